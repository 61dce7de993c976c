#!/bin/bash
# Runs once, on MySQL's first start (docker-entrypoint-initdb.d): the same databases, users and grants as
# compose/local/src/components/mariadb.ts, with MySQL's names for the privileges.
set -euo pipefail
mysql -uroot -p"$MYSQL_ROOT_PASSWORD" <<SQL
CREATE DATABASE IF NOT EXISTS order_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS product_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE DATABASE IF NOT EXISTS user_db CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
CREATE USER IF NOT EXISTS 'order_svc'@'%' IDENTIFIED BY '${SERVICE_DB_PASSWORD}';
CREATE USER IF NOT EXISTS 'product_svc'@'%' IDENTIFIED BY '${SERVICE_DB_PASSWORD}';
CREATE USER IF NOT EXISTS 'user_svc'@'%' IDENTIFIED BY '${SERVICE_DB_PASSWORD}';
GRANT ALL PRIVILEGES ON order_db.* TO 'order_svc'@'%';
GRANT ALL PRIVILEGES ON product_db.* TO 'product_svc'@'%';
GRANT ALL PRIVILEGES ON user_db.* TO 'user_svc'@'%';
-- Debezium's documented grants; SELECT only on the captured databases.
CREATE USER IF NOT EXISTS '${DEBEZIUM_DB_USER}'@'%' IDENTIFIED BY '${DEBEZIUM_DB_PASSWORD}';
GRANT RELOAD, SHOW DATABASES, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${DEBEZIUM_DB_USER}'@'%';
GRANT SELECT ON order_db.* TO '${DEBEZIUM_DB_USER}'@'%';
GRANT SELECT ON product_db.* TO '${DEBEZIUM_DB_USER}'@'%';
GRANT SELECT ON user_db.* TO '${DEBEZIUM_DB_USER}'@'%';
-- The MySQL exporter: server status, processes and binlog sizes, no service's data.
CREATE USER IF NOT EXISTS '${EXPORTER_DB_USER}'@'%' IDENTIFIED BY '${EXPORTER_DB_PASSWORD}' WITH MAX_USER_CONNECTIONS 3;
GRANT PROCESS, REPLICATION CLIENT ON *.* TO '${EXPORTER_DB_USER}'@'%';
GRANT SELECT ON performance_schema.* TO '${EXPORTER_DB_USER}'@'%';
SQL
