#!/usr/bin/env bash
# Starts every service on its port (docs/design.md) against the local servers, each with its
# own database and role (the environment deploy/local/service-env.sh prints: for notifications
# also SMTP_URL at the local maildev and WEBHOOK_ALLOW_PRIVATE=true, for ops a local operator
# token OPS_TOKEN — and nothing
# inherited: `make test`'s superuser DATABASE_URL must not reach a service), waits until each
# is ready, prints where each listens, and stops them (and nothing else) on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."

state=.run
mkdir -p "$state"
exec 9>"$state/lock"
if ! flock -n 9; then
  echo "Summit is already running (make run holds $state/lock); stop it with Ctrl-C there first." >&2
  exit 1
fi

services=(catalog checkout payments notifications ops storefront)
# A service's environment, one NAME=value a line; and its port.
service_env() { bash deploy/local/service-env.sh "$1"; }
port_of() { service_env "$1" | sed -n 's/^PORT=//p'; }

for name in "${services[@]}"; do
  port=$(port_of "$name")
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is taken by another process; free it and run again" >&2
    exit 1
  fi
done

pids=()
stop() {
  trap - INT TERM EXIT
  echo
  echo "stopping Summit..."
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait "${pids[@]}" 2>/dev/null || true
  echo "stopped."
}
# On Ctrl-C or TERM: stop the services and leave at once (a bare handler would return into
# the readiness loop below and carry on waiting).
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

# The payment-gateway simulator (pagar.me's shape) on 8090: payments' local default gateway.
if (exec 3<>"/dev/tcp/127.0.0.1/8090") 2>/dev/null; then
  echo "port 8090 (gateway simulator) is taken by another process; free it and run again" >&2
  exit 1
fi
GATEWAY_SIM_ADDR=127.0.0.1:8090 ./target/debug/gateway-sim >"$state/gateway-sim.log" 2>&1 &
pids+=($!)
echo "gateway-sim    on http://127.0.0.1:8090/core/v5   (log: $state/gateway-sim.log)"

for name in "${services[@]}"; do
  env_lines=$(service_env "$name")
  mapfile -t env_vars <<<"$env_lines"
  env -u DATABASE_URL "${env_vars[@]}" ./target/debug/"$name" >"$state/$name.log" 2>&1 &
  pids+=($!)
done

for name in "${services[@]}"; do
  port=$(port_of "$name")
  for _ in $(seq 120); do
    if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then break; fi
    sleep 0.5
  done
  if curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1; then
    printf '%-14s ready on http://127.0.0.1:%s   (log: %s/%s.log)\n' "$name" "$port" "$state" "$name"
  else
    printf '%-14s NOT ready on http://127.0.0.1:%s — see %s/%s.log\n' "$name" "$port" "$state" "$name"
  fi
done
echo "Start here: http://127.0.0.1:8080/admin (open a store; it lives at http://<slug>.summit.localhost:8080/)."
echo "Operators' console: http://127.0.0.1:8080/ops (token: $(service_env ops | sed -n 's/^OPS_TOKEN=//p'))."
echo "Mail sent by notifications: http://127.0.0.1:1080 (maildev)."
echo "Operating (README): OPS_TOKEN=$(service_env ops | sed -n 's/^OPS_TOKEN=//p') summitctl failures | queues; summitctl outbox."
echo "RabbitMQ management: http://127.0.0.1:15672 (guest/guest). Ctrl-C stops Summit."
wait "${pids[@]}"
