#!/bin/bash
# Runs once, on MySQL's first start (docker-entrypoint-initdb.d: an empty data volume only): the same
# databases and accounts as compose/local/src/components/mariadb.ts, with MySQL's names for the privileges.
# Every password is read from the file the `secrets` container made (compose/secrets.sh), and every account
# may connect from the compose network only (DB_ACCOUNT_HOST, the network's subnet as a host pattern).
set -euo pipefail
secrets=/run/stack-secrets/mysql
host="${DB_ACCOUNT_HOST:?DB_ACCOUNT_HOST must name the hosts the accounts may connect from, e.g. 172.28.%}"
[[ $host =~ ^[0-9.%]+$ ]] || { echo "init.sh: DB_ACCOUNT_HOST \"$host\" is not an address pattern" >&2; exit 1; }

# Every password, read and checked (no quoting needed in SQL) before any statement runs.
declare -A password
for name in db-order-runtime db-order-migrate db-product-runtime db-product-migrate db-user-runtime db-user-migrate \
  db-debezium db-exporter db-auditor; do
  value=$(< "$secrets/$name")
  [[ $value =~ ^[A-Za-z0-9_-]{16,}$ ]] || { echo "init.sh: $secrets/$name does not hold a usable secret" >&2; exit 1; }
  password[$name]=$value
done

# account USER SECRET [OPTIONS]: USER from the compose network, with the password in SECRET.
account() {
  printf "CREATE USER IF NOT EXISTS '%s'@'%s' IDENTIFIED BY '%s' %s;\n" "$1" "$host" "${password[$2]}" "${3:-}"
}

sql() {
  for service in order product user; do
    echo "CREATE DATABASE IF NOT EXISTS ${service}_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;"
    # What the service serves with: rows only.
    account "${service}_svc" "db-${service}-runtime"
    echo "GRANT SELECT, INSERT, UPDATE, DELETE ON ${service}_db.* TO '${service}_svc'@'$host';"
    # What it migrates with at start: its database's tables, indexes, constraints and foreign keys as well.
    account "${service}_migrate" "db-${service}-migrate"
    echo "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES ON ${service}_db.* TO '${service}_migrate'@'$host';"
  done
  # Debezium's documented grants; SELECT only on the captured databases.
  account debezium db-debezium
  echo "GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'debezium'@'$host';"
  # The MySQL exporter: server status, processes and binlog sizes, no service's data.
  account exporter db-exporter 'WITH MAX_USER_CONNECTIONS 3'
  echo "GRANT PROCESS, REPLICATION CLIENT ON *.* TO 'exporter'@'$host';"
  echo "GRANT SELECT ON performance_schema.* TO 'exporter'@'$host';"
  # The audit: reads the three databases, writes nothing.
  account auditor db-auditor
  for service in order product user; do
    echo "GRANT SELECT ON ${service}_db.* TO 'debezium'@'$host';"
    echo "GRANT SELECT ON ${service}_db.* TO 'auditor'@'$host';"
  done
}

# Root's password (the entrypoint read it from MYSQL_ROOT_PASSWORD_FILE) goes to the client through a file
# descriptor, not on its command line.
sql | mysql --defaults-extra-file=<(printf '[client]\nuser=root\npassword=%s\n' "$MYSQL_ROOT_PASSWORD") --protocol=socket
