#!/bin/sh
# The compose stack's passwords, made by the one-shot `secrets` container on the first `up` into the
# `secrets` volume and never overwritten afterwards (the native stack makes the same ones into
# .stack/secrets, compose/local/src/secrets.ts). Each is 32 random bytes, base64url: no quoting needed in
# SQL, a properties file or a URL.
#
# The volume is mounted on /tmp here: a new volume takes the owner and mode of the directory it is first
# mounted on, and /tmp is writable by any user, so this runs as a user of its own (7000), not root.
#
# all/ is this container's alone (0700). Every other container that mounts the volume (read-only) gets a
# directory of its own holding only the secrets it reads, owned by a group only it is given (group_add in
# docker-compose.yml), 0750 and files 0440: the services cannot read each other's passwords, Grafana none
# of the database's. To give a container a secret: a `share` line below, and in docker-compose.yml the
# volume `secrets:/run/stack-secrets:ro`, `group_add: ["<gid>"]` and a dependency on this container.
set -eu
umask 077
volume="${1:-/tmp}"
mkdir -p "$volume/all"
chmod 0700 "$volume/all"

# The secret NAME in all/, made unless it is there already.
generate() {
  file="$volume/all/$1"
  [ -s "$file" ] && return 0
  head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' > "$file.tmp"
  grep -Eq '^[A-Za-z0-9_-]{43}$' "$file.tmp" || { echo "secrets: could not make $1" >&2; exit 1; }
  mv "$file.tmp" "$file"
  echo "made $1"
}

# The secret NAME's value.
value() {
  cat "$volume/all/$1"
}

# share DIRECTORY GID NAME...: the named secrets, copied into DIRECTORY for the group GID alone.
share() {
  dir="$volume/$1"
  gid="$2"
  shift 2
  mkdir -p "$dir"
  chgrp "$gid" "$dir"
  chmod 0750 "$dir"
  for name in "$@"; do
    cp "$volume/all/$name" "$dir/$name.tmp"
    chgrp "$gid" "$dir/$name.tmp"
    chmod 0440 "$dir/$name.tmp"
    mv -f "$dir/$name.tmp" "$dir/$name"
  done
}

database_secrets="db-order-runtime db-order-migrate db-product-runtime db-product-migrate db-user-runtime db-user-migrate db-debezium db-exporter db-auditor"
for name in mysql-root grafana-admin eureka connect-rest $database_secrets; do
  generate "$name"
done

# MySQL: its root password (MYSQL_ROOT_PASSWORD_FILE) and every account's, for mysql/init.sh.
share mysql 7001 mysql-root $database_secrets
# Each service: its runtime and its migration account (DB_PASSWORD_FILE, DB_MIGRATION_PASSWORD_FILE).
share order 7002 db-order-runtime db-order-migrate eureka
share product 7003 db-product-runtime db-product-migrate eureka
share user 7004 db-user-runtime db-user-migrate eureka
# Kafka Connect: Debezium's account, which the connectors read as ${env:DEBEZIUM_DB_PASSWORD}.
share connect 7005 db-debezium connect-rest
# The MySQL exporter (0.14) reads a my.cnf, not a password file: written here, for its group alone.
share mysqld-exporter 7006
exporter_password=$(value db-exporter)
printf '[client]\nuser=exporter\npassword=%s\nhost=mysql\nport=3306\n' "$exporter_password" > "$volume/mysqld-exporter/my.cnf.tmp"
chgrp 7006 "$volume/mysqld-exporter/my.cnf.tmp"
chmod 0440 "$volume/mysqld-exporter/my.cnf.tmp"
mv -f "$volume/mysqld-exporter/my.cnf.tmp" "$volume/mysqld-exporter/my.cnf"
# Grafana: the admin password (GF_SECURITY_ADMIN_PASSWORD__FILE).
share grafana 7007 grafana-admin
# Eureka's one HTTP basic user (EUREKA_PASSWORD_FILE): the registry itself and everything that registers
# with it or reads it (the services above too).
share eureka 7008 eureka
share gateway 7009 eureka
share config-server 7010 eureka
share prometheus 7011 eureka
# Connect's REST API user (connect-rest above, for Connect itself): the one-shot that registers the connectors.
share register-connectors 7012 connect-rest
echo "secrets ready"
