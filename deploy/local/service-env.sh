#!/usr/bin/env bash
# The environment one service runs with under `make run`, one `NAME=value` a line:
#   deploy/local/service-env.sh catalog   →   PORT=8081
#                                            DATABASE_URL=postgres://catalog:catalog@127.0.0.1:5432/catalog
# Each service gets its own database and its own (non-superuser) role, both named after it
# (deploy/local/databases.sh creates them). An inherited DATABASE_URL — `make test`'s
# superuser URL, say — is deliberately ignored: run.sh passes exactly what this prints.
#
# Knobs (also read by databases.sh, so both agree):
#   SUMMIT_DB_PREFIX  prefix of every database and role name (default none); tests set one to
#                     get databases and roles of their own
#   SUMMIT_DB_HOST, SUMMIT_DB_PORT  the PostgreSQL server (default 127.0.0.1:5432)
#   SUMMIT_SMTP_URL   notifications' SMTP server (default the local sink, smtp://127.0.0.1:2525)
#   SUMMIT_OPS_TOKEN  ops' operator token (default `local-ops-token`: local runs only)
set -euo pipefail

service=${1:?usage: service-env.sh catalog|checkout|payments|notifications|ops|storefront}
case "$service" in
  catalog) port=8081 ;;
  checkout) port=8082 ;;
  payments) port=8083 ;;
  notifications) port=8084 ;;
  ops) port=8085 ;;
  storefront) port=8080 ;;
  *) echo "service-env.sh: unknown service $service" >&2; exit 2 ;;
esac

name="${SUMMIT_DB_PREFIX:-}$service"
host=${SUMMIT_DB_HOST:-127.0.0.1}
db_port=${SUMMIT_DB_PORT:-5432}

echo "PORT=$port"
if [ "$service" = storefront ]; then
  # The web edge owns no database: it composes the others over HTTP (their local defaults),
  # and its shoppers' browsers tokenize cards at the local gateway simulator.
  echo "GATEWAY_TOKENIZE_URL=http://127.0.0.1:8090/core/v5"
  exit 0
fi
# databases.sh gives each role the password of its own name.
echo "DATABASE_URL=postgres://$name:$name@$host:$db_port/$name"
if [ "$service" = notifications ]; then
  # Mail goes to the local sink (maildev, which servers.sh starts; read it on :1080), and
  # webhook endpoints may be http:// and on loopback or a private network — local runs only.
  echo "SMTP_URL=${SUMMIT_SMTP_URL:-smtp://127.0.0.1:2525}"
  echo "WEBHOOK_ALLOW_PRIVATE=true"
fi
if [ "$service" = ops ]; then
  # The operator token of /ops and `summitctl failures` (OPS_TOKEN there too).
  echo "OPS_TOKEN=${SUMMIT_OPS_TOKEN:-local-ops-token}"
fi
