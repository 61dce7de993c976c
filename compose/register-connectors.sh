#!/bin/sh
# PUT /connectors/<name>/config for every connectors/*.json (create or update: running it again changes
# nothing). The files name Debezium's MariaDB connector, which the native stack runs; under compose the
# database is MySQL 8, so the class is swapped for Debezium's MySQL connector, which takes the same settings.
set -eu
connect_url="$1"
for file in /connectors/*.json; do
  name=$(basename "$file" .json)
  sed 's/io\.debezium\.connector\.mariadb\.MariaDbConnector/io.debezium.connector.mysql.MySqlConnector/' "$file" |
    curl -fsS -X PUT -H 'Content-Type: application/json' --data-binary @- "$connect_url/connectors/$name/config" > /dev/null
  echo "registered $name"
done
