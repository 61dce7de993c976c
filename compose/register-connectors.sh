#!/bin/sh
# Registers every connectors/*.json with Kafka Connect, then exits 0 only once each connector streams the
# binlog: the services depend on this container having completed successfully, so none of them can commit
# an outbox row before its connector's starting position. The same rule as the native stack
# (compose/local/src/connectors.ts, waitUntilStreaming), for the same reason:
#
# Connect reports a task RUNNING once its start() has returned, and Debezium takes its first binlog position
# later, in a thread of its own (snapshot.mode=no_data: the position current at that moment, when the
# connector has no stored offset yet). A row committed in between would never be published. Debezium's
# binlog client connects from that position, so its streaming metric Connected = 1 (served by the JMX
# exporter agent in Connect) proves the position is fixed and precedes anything committed afterwards.
#
# PUT /connectors/<name>/config creates or updates, so running this again changes nothing. The files
# name Debezium's MariaDB connector, which the native stack runs; under compose the database is MySQL 8,
# so the class is swapped for Debezium's MySQL connector, which takes the same settings.
#
# Connect's REST API answers its HTTP basic user only: KAFKA_CONNECT_USERNAME, and the password in the file
# KAFKA_CONNECT_PASSWORD_FILE names. curl reads both from a config file of this container's own (-K), so the
# password is on no command line.
set -eu
connect_url="$1"
metrics_url="$2"
deadline=$(($(date +%s) + 180))

umask 077
password=$(cat "${KAFKA_CONNECT_PASSWORD_FILE:?the file with the password of the Connect REST API}")
[ -n "$password" ] || { echo "$KAFKA_CONNECT_PASSWORD_FILE is empty" >&2; exit 1; }
auth=$(mktemp)
trap 'rm -f "$auth"' EXIT
printf 'user = "%s:%s"\n' "${KAFKA_CONNECT_USERNAME:?the user of the Connect REST API}" "$password" > "$auth"
unset password

in_time() {
  [ "$(date +%s)" -lt "$deadline" ] || { echo "$1" >&2; exit 1; }
}

# A connector Connect runs with no file in /connectors (one whose file was removed since) is deleted, so that
# its binlog connection and offsets do not live on beside the connectors that replaced it.
for name in $(curl -fsS -K "$auth" "$connect_url/connectors" | tr -d '[]"' | tr ',' ' '); do
  if [ ! -f "/connectors/$name.json" ]; then
    curl -fsS -K "$auth" -X DELETE "$connect_url/connectors/$name" > /dev/null
    echo "deleted $name (no file in connectors/)"
  fi
done

for file in /connectors/*.json; do
  name=$(basename "$file" .json)
  sed 's/io\.debezium\.connector\.mariadb\.MariaDbConnector/io.debezium.connector.mysql.MySqlConnector/' "$file" |
    curl -fsS -K "$auth" -X PUT -H 'Content-Type: application/json' --data-binary @- "$connect_url/connectors/$name/config" > /dev/null
  echo "registered $name"
done

# RUNNING: the connector and each of its tasks (at least one). A FAILED one is restarted, its failed parts
# only, twice at most, as the native stack does.
for file in /connectors/*.json; do
  name=$(basename "$file" .json)
  restarts=0
  while :; do
    status=$(curl -fsS -K "$auth" "$connect_url/connectors/$name/status" 2> /dev/null || true)
    states=$(printf '%s' "$status" | grep -o '"state":"[A-Z_]*"' | sort -u || true)
    if [ "$states" = '"state":"RUNNING"' ] && printf '%s' "$status" | grep -q '"tasks":\[{'; then break; fi
    if printf '%s' "$states" | grep -q FAILED; then
      [ "$restarts" -lt 2 ] || { echo "connector $name FAILED: $status" >&2; exit 1; }
      restarts=$((restarts + 1))
      echo "connector $name is FAILED; restarting it ($restarts/2)"
      curl -fsS -K "$auth" -X POST "$connect_url/connectors/$name/restart?includeTasks=true&onlyFailed=true" > /dev/null
    fi
    in_time "connector $name not RUNNING in time: $status"
    sleep 1
  done
  echo "$name RUNNING"
done

# Streaming: debezium_mysql_connector_metrics_connected{context="streaming",server="<topic.prefix>"} 1.0
for file in /connectors/*.json; do
  server=$(sed -n 's/.*"topic\.prefix": *"\([^"]*\)".*/\1/p' "$file")
  until curl -fsS "$metrics_url" 2> /dev/null | grep '^debezium_[a-z]*_connector_metrics_connected{' |
    grep 'context="streaming"' | grep "server=\"$server\"" | grep -Eq ' 1(\.0)?$'; do
    in_time "Debezium not streaming the binlog in time for $server (Connected metric at $metrics_url)"
    sleep 1
  done
  echo "$server streams the binlog"
done
