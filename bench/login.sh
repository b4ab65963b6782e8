#!/usr/bin/env bash
# POST /login under load: each request checks CSRF and the per-address limit, signs a magic
# link (ES256), and writes the link and its sealed mail in one transaction. Every request uses
# a new address, so every one takes that full path. Runs on SQLite, then on PostgreSQL.
#   bench/login.sh [SECONDS] [sqlite|postgres]
#       needs: wrk, python3; PostgreSQL at LATCHKEY_BENCH_POSTGRES
#       (default postgres://postgres@127.0.0.1:5432) for the second run
#       The connection negotiates TLS when the server offers it, as sqlx does by default;
#       PGSSLMODE=disable measures without (sqlx reads it), as a server on the same host or
#       behind a private network would likely be run.
# The mail worker runs as in `serve`, writing .eml files, on the same two cores.
# Prints figures for people to read; nothing here passes or fails on a number.
set -euo pipefail
secs=${1:-10}
only=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
pg=${LATCHKEY_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet)
bin=$root/target/release/latchkey
work=$(mktemp -d)
# The .eml files go to memory when it can hold them: each run writes and deletes tens of
# thousands, and on ext4 every later run's file creations then crawl through the freed
# inodes (`recently_deleted`), which measures the disk's history rather than the provider.
mail_dir=$work
[ -d /dev/shm ] && [ -w /dev/shm ] && mail_dir=$(mktemp -d -p /dev/shm)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work" "$mail_dir"; }
trap cleanup EXIT

csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA   # any 43-character token, in cookie and form alike
cat > "$work/login.lua" <<LUA
local counter = 0
local id = 0
setup = function(thread) id = id + 1; thread:set("id", id) end
request = function()
  counter = counter + 1
  local body = "csrf=$csrf&email=bench-" .. id .. "-" .. counter .. "-" .. math.random(1e9) .. "%40example.com"
  return wrk.format("POST", "/login", {["Content-Type"] = "application/x-www-form-urlencoded",
    ["Cookie"] = "latchkey-csrf=$csrf"}, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
end
LUA

run() { # name database_url
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  LATCHKEY_ISSUER=http://127.0.0.1:$port LATCHKEY_LISTEN=127.0.0.1:$port LATCHKEY_DATABASE_URL=$2 \
  LATCHKEY_LOG__LEVEL=warn LATCHKEY_HTTP__RATE_LIMIT_PER_IP=100000000 \
  LATCHKEY_MAIL__OUTBOX_DIR=$mail_dir/outbox-$1 LATCHKEY_KEYS__MASTER_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())') \
    "$bin" serve 2>"$work/$1.log" & pid=$!
  for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
  local out
  out=$(wrk -t2 -c64 -d"${secs}s" --latency -s "$work/login.lua" "http://127.0.0.1:$port" | grep '^RESULT')
  echo "login_$1 ${out#RESULT }   (req/s p50_ms p99_ms errors)"
  # The worker delivers (here: writes .eml files) while the load runs; what it had not
  # delivered by the end shows how fast it works through a backlog.
  local during after
  during=$(ls "$mail_dir/outbox-$1" | wc -l)
  sleep 5
  after=$(ls "$mail_dir/outbox-$1" | wc -l)
  echo "mail_$1 $during $(( (after - during) / 5 )) $(ps -o rss= -p "$pid")   (delivered_during_load backlog_per_s rss_kb)"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
}
[ "$only" = postgres ] || run sqlite "sqlite://$work/latchkey.db?mode=rwc"
[ "$only" = sqlite ] && exit 0
db=latchkey_bench_$$
if psql "$pg/postgres" -qc "CREATE DATABASE $db" 2>/dev/null; then
  run postgres "$pg/$db"
  psql "$pg/postgres" -qc "DROP DATABASE $db WITH (FORCE)" >/dev/null
else
  echo "PostgreSQL at $pg not reachable: the PostgreSQL run was skipped"
fi
