#!/usr/bin/env bash
# One database and one role per service; each role can connect only to its own database
# (CONNECT revoked from PUBLIC); no role is a superuser. Idempotent. Migrations run when each
# service starts. Names are deploy/local/service-env.sh's: `SUMMIT_DB_PREFIX` (default none)
# prefixes each, so a test can make a set of its own.
set -euo pipefail

prefix=${SUMMIT_DB_PREFIX:-}
if ! [[ "$prefix" =~ ^[a-z0-9_]*$ ]]; then
  echo "databases: SUMMIT_DB_PREFIX may hold only a-z, 0-9 and _" >&2
  exit 2
fi

as_postgres() {
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

psql_admin() { as_postgres psql -qAt -v ON_ERROR_STOP=1 -d postgres "$@"; }

for service in catalog checkout payments notifications ops; do
  service="$prefix$service"
  psql_admin -c "
    DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$service') THEN
        CREATE ROLE $service LOGIN PASSWORD '$service';
      END IF;
    END \$\$;
    ALTER ROLE $service NOSUPERUSER NOCREATEDB NOCREATEROLE;" >/dev/null
  if [ -z "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$service'")" ]; then
    psql_admin -c "CREATE DATABASE $service OWNER $service" >/dev/null
  fi
  psql_admin -c "REVOKE CONNECT ON DATABASE $service FROM PUBLIC;
                 GRANT CONNECT ON DATABASE $service TO $service;" >/dev/null
done
echo "databases: ${prefix}catalog, ${prefix}checkout, ${prefix}payments, ${prefix}notifications, ${prefix}ops (one role each)"
