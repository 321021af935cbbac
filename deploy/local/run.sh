#!/usr/bin/env bash
# Starts every service on its design.md port against the local servers, waits until each is
# ready, prints where each listens, and stops them (and nothing else) on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/../.."

state=.run
mkdir -p "$state"
exec 9>"$state/lock"
if ! flock -n 9; then
  echo "Summit is already running (make run holds $state/lock); stop it with Ctrl-C there first." >&2
  exit 1
fi

services=(catalog:8081 checkout:8082 payments:8083 notifications:8084)
for entry in "${services[@]}"; do
  port=${entry#*:}
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
trap stop INT TERM EXIT

for entry in "${services[@]}"; do
  name=${entry%%:*}
  port=${entry#*:}
  PORT=$port ./target/debug/"$name" >"$state/$name.log" 2>&1 &
  pids+=($!)
done

for entry in "${services[@]}"; do
  name=${entry%%:*}
  port=${entry#*:}
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
echo "RabbitMQ management: http://127.0.0.1:15672 (guest/guest). Ctrl-C stops Summit."
wait "${pids[@]}"
