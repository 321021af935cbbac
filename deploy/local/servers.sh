#!/usr/bin/env bash
# Makes sure PostgreSQL, RabbitMQ (with its management API), Redis and the SMTP sink (maildev)
# answer on loopback: uses them where they already run, starts them where installed but
# stopped, and installs them where missing (Debian's packages as root; maildev from npm). Then creates the `summit` superuser
# role the tests use. Idempotent; prints one line per server.
set -euo pipefail

apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "servers: $* missing and not root: install them (apt-get install $*)" >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  # Without an init system a package's postinst cannot start its service (and may fail the
  # install trying): forbid service starts while installing, then start them ourselves below.
  local own_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  local status=0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null || status=$?
  [ "$own_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  return "$status"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port=$1 what=$2 tries=${3:-120}
  for _ in $(seq "$tries"); do
    port_open "$port" && return 0
    sleep 0.5
  done
  echo "servers: $what did not open port $port" >&2
  exit 1
}

as_postgres() {
  if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

ensure_postgres() {
  if ! port_open 5432; then
    if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
      echo "servers: installing PostgreSQL"
      apt_install postgresql postgresql-contrib
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    port_open 5432 || pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_port 5432 PostgreSQL
  fi
  # The role tests and migrations connect as (password auth works whatever pg_hba says for TCP).
  as_postgres psql -qAt -v ON_ERROR_STOP=1 -d postgres -c "
    DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'summit') THEN
        CREATE ROLE summit LOGIN SUPERUSER PASSWORD 'summit';
      END IF;
    END \$\$;" >/dev/null
  echo "servers: PostgreSQL on 127.0.0.1:5432"
}

ensure_rabbitmq() {
  if ! port_open 5672; then
    if ! command -v rabbitmq-server >/dev/null 2>&1; then
      echo "servers: installing RabbitMQ"
      apt_install rabbitmq-server
    fi
    port_open 5672 || rabbitmq-server -detached || true
    wait_port 5672 RabbitMQ 240
  fi
  if ! port_open 15672; then
    # The management API lets tests make a vhost each and close only their own connections.
    rabbitmq-plugins enable rabbitmq_management >/dev/null
    wait_port 15672 "RabbitMQ management" 120
  fi
  echo "servers: RabbitMQ on 127.0.0.1:5672 (management 15672)"
}

ensure_redis() {
  if ! port_open 6379; then
    if ! command -v redis-server >/dev/null 2>&1; then
      echo "servers: installing Redis"
      apt_install redis-server
    fi
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/summit-redis.log
    wait_port 6379 Redis
  fi
  echo "servers: Redis on 127.0.0.1:6379"
}

ensure_maildev() {
  # The SMTP sink notifications sends to under `make run` and `make test`: it accepts every
  # mail on 2525 and keeps it readable over HTTP on 1080 (GET /api/email).
  if ! port_open 2525 || ! port_open 1080; then
    if ! command -v maildev >/dev/null 2>&1; then
      if ! command -v npm >/dev/null 2>&1; then
        echo "servers: installing Node.js and npm"
        apt_install nodejs npm
      fi
      echo "servers: installing maildev"
      npm install -g --silent maildev@3 >/dev/null 2>&1
    fi
    mkdir -p /tmp/summit-maildev
    nohup maildev --ip 127.0.0.1 --web-ip 127.0.0.1 -s 2525 -w 1080 \
      --mail-directory /tmp/summit-maildev >/tmp/summit-maildev.log 2>&1 &
    wait_port 2525 maildev
    wait_port 1080 "maildev HTTP"
  fi
  echo "servers: maildev (SMTP sink) on 127.0.0.1:2525 (HTTP 1080)"
}

ensure_tools() {
  # run.sh waits on health endpoints with curl.
  command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
}

ensure_browser() {
  # The storefront's browser journeys drive Debian's headless Chromium through chromedriver.
  if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "servers: installing Chromium and chromedriver (browser tests)"
    apt_install chromium chromium-driver
  fi
  echo "servers: Chromium $(chromium --version 2>/dev/null | awk '{print $2}') with chromedriver"
}

ensure_tools
ensure_browser
ensure_postgres
ensure_rabbitmq
ensure_redis
ensure_maildev
