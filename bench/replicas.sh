#!/usr/bin/env bash
# One replica against three on one PostgreSQL database: client_credentials tokens and
# POST /login (a magic link and its sealed mail written per request), each for SECONDS with
# 64 connections in all (split evenly across the replicas, one wrk per replica, as a load
# balancer would). On one machine the replicas share its cores with PostgreSQL and wrk, so
# three cannot be faster than one here: what this shows is the shape, that no lock or hot row
# makes three slower than one.
#   bench/replicas.sh [SECONDS]
#       needs: wrk, python3, curl; PostgreSQL at LATCHKEY_BENCH_POSTGRES
#       (default postgres://postgres@127.0.0.1:5432)
# Prints figures for people to read; nothing here passes or fails on a number.
set -euo pipefail
secs=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
pg=${LATCHKEY_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet)
bin=$root/target/release/latchkey
work=$(mktemp -d)
db=latchkey_bench_replicas_$$
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$pg/postgres" -qc "CREATE DATABASE $db"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

# Every replica: the same issuer, database and master key, as in production.
issuer=http://127.0.0.1:$(free_port)
export LATCHKEY_ISSUER=$issuer LATCHKEY_DATABASE_URL=$pg/$db LATCHKEY_LOG__LEVEL=warn
export LATCHKEY_HTTP__RATE_LIMIT_PER_IP=100000000 LATCHKEY_LOGIN__RATE_LIMIT_PER_ADDRESS=1000000
export LATCHKEY_MAIL__OUTBOX_DIR=$work/outbox
export LATCHKEY_KEYS__MASTER_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
"$bin" migrate >/dev/null 2>&1
machine=$("$bin" client create --json --name bench --grant-type client_credentials --scope api 2>/dev/null)
id=$(field client_id <<<"$machine") secret=$(field client_secret <<<"$machine")
basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)

csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
cat > "$work/token.lua" <<LUA
wrk.method = "POST"
wrk.path = "/token"
wrk.body = "grant_type=client_credentials"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $basic"
LUA
cat > "$work/login.lua" <<LUA
local counter = 0
request = function()
  counter = counter + 1
  local body = "csrf=$csrf&email=r-" .. counter .. "-" .. math.random(1e9) .. "%40example.com"
  return wrk.format("POST", "/login", {["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "latchkey-csrf=$csrf"}, body)
end
LUA
# Each wrk prints "requests/s p99_ms non-2xx-or-3xx+socket-errors".
for s in token login; do
  cat >> "$work/$s.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
end
LUA
done

ports=()
start_replicas() { # count
  ports=()
  for _ in $(seq "$1"); do
    local port
    port=$(free_port)
    LATCHKEY_LISTEN=127.0.0.1:$port "$bin" serve 2>>"$work/serve.log" & pids+=($!)
    ports+=("$port")
  done
  for port in "${ports[@]}"; do
    for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  done
}
stop_replicas() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  pids=()
}
load() { # script — one wrk per replica at once, 64 connections in all; prints the sums
  local n=${#ports[@]} out=() loads=()
  for port in "${ports[@]}"; do
    wrk -t1 -c$((64 / n)) -d"${secs}s" --latency -s "$work/$1.lua" "http://127.0.0.1:$port" \
      > "$work/out.$port" & loads+=($!)
  done
  wait "${loads[@]}"
  for port in "${ports[@]}"; do out+=("$(grep '^RESULT' "$work/out.$port")"); done
  printf '%s\n' "${out[@]}" | awk '{ rps += $2; if ($3 > p99) p99 = $3; err += $4 }
    END { printf "%.0f req/s, worst p99 %.1f ms, %d errors\n", rps, p99, err }'
}

for replicas in 1 3; do
  start_replicas $replicas
  # One request of each, to fail loudly rather than measure errors.
  for port in "${ports[@]}"; do
    curl -fsS -o /dev/null -H "Authorization: Basic $basic" -d grant_type=client_credentials \
      "http://127.0.0.1:$port/token" || { echo "token request failed on :$port" >&2; exit 1; }
  done
  echo "$replicas replica(s): token $(load token)"
  echo "$replicas replica(s): login $(load login)"
  stop_replicas
done
