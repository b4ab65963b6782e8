#!/usr/bin/env bash
# Browser sign-on under load: POST /sso/jwt with a token for a new member each time (who is
# provisioned into the team), and for the same, returning member each time (a fresh jti each),
# on SQLite by default (LATCHKEY_BENCH_DATABASE_URL for another database). Beside them, for
# where the time goes: /healthz (the HTTP stack), tokens refused at the signature (the
# verification, no writes), and the SQLite writer's batch sizes.
#   bench/sso_jwt.sh [SECONDS]       needs: wrk, python3, curl
#   PROFILE=1 bench/sso_jwt.sh       also records the returning-member load with perf into
#                                    /tmp/perf.data (perf report -i /tmp/perf.data)
# Prints figures for people to read; nothing here passes or fails on a number.
set -euo pipefail
secs=${1:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet -p latchkey-server -p agent-widget-example)
bin=$root/target/release/latchkey
widget=$root/target/release/agent-widget-example
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iss=http://127.0.0.1:$port
export LATCHKEY_ISSUER=$iss LATCHKEY_LISTEN=127.0.0.1:$port LATCHKEY_LOG__LEVEL=warn
export LATCHKEY_DATABASE_URL=${LATCHKEY_BENCH_DATABASE_URL:-"sqlite://$work/latchkey.db?mode=rwc"}
export LATCHKEY_MAIL__OUTBOX_DIR=$work/outbox
export LATCHKEY_KEYS__MASTER_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
export LATCHKEY_URL=$iss WIDGET_ISSUER=https://helpdesk.bench.example AGENT_EMAIL=returning@bench.example
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

team=$("$bin" team create --json --name Bench --admin admin@bench.example 2>/dev/null | field team_id)
# Enough tokens for the fastest run: every request spends one.
count=$((secs * 12000))
(cd "$work" && "$widget" mint 1 >/dev/null && "$widget" mint "$count" new >new.txt \
  && "$widget" mint "$count" same >same.txt && "$widget" mint 1 same >warm.txt)
sed -E 's/.{10}$/AAAAAAAAAA/' "$work/same.txt" | head -n "$count" >"$work/forged.txt"
"$bin" issuer add --team "$team" --issuer "$WIDGET_ISSUER" --public-key-file "$work/widget-public.pem" >/dev/null

"$bin" serve 2>"$work/serve.log" & pid=$!
for _ in $(seq 100); do curl -fsS "$iss/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
echo "idle_rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status)"
# The returning member exists before the load.
curl -fsS -o /dev/null -X POST --data-urlencode "token=$(cat "$work/warm.txt")" "$iss/sso/jwt"

# Each wrk thread spends its own share of the tokens (thread t takes lines t, t+T, ...).
lua() {
  cat <<LUA
local threads, tokens, next_index = {}, {}, 0
function setup(thread) thread:set("id", #threads + 1); table.insert(threads, thread) end
function init(args)
  for line in io.lines("$1") do table.insert(tokens, line) end
  next_index = id
end
function request()
  local token = tokens[next_index] or "exhausted"
  next_index = next_index + 2
  return wrk.format("POST", "/sso/jwt", {["Content-Type"] = "application/x-www-form-urlencoded"}, "token=" .. token)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
end
LUA
}
run() { # NAME TOKENS NOTE
  lua "$work/$2" >"$work/$1.lua"
  out=$(wrk -t2 -c64 -d"${secs}s" --latency -s "$work/$1.lua" "$iss/sso/jwt" | grep "^RESULT")
  echo "$1 ${out#RESULT } $3"
}
echo "== latchkey POST /sso/jwt (NAME req/s p50_ms p99_ms errors)"
out=$(wrk -t2 -c32 -d"${secs}s" --latency -s <(echo 'done = function(s, l, r) io.write(string.format("RESULT %.0f %.2f %.2f %d\n", s.requests / (s.duration / 1e6), l:percentile(50) / 1000, l:percentile(99) / 1000, s.errors.status)) end') "$iss/healthz" | grep '^RESULT')
echo "healthz ${out#RESULT } (the HTTP stack alone)"
run refused_signature forged.txt "(the issuer from the cache, ES256 verification; nothing written; every answer a 401)"
[ -n "${PROFILE:-}" ] && { perf record -e cpu-clock -F 499 -g -o /tmp/perf.data -p "$pid" -- sleep 3 >/dev/null 2>&1 & }
run returning_member same.txt "(verify; then the writer spends the jti, audits and opens the session, in batches)"
[ -f "$work/latchkey.db-wal" ] && echo "sqlite_wal_mb $(du -m "$work/latchkey.db-wal" | cut -f1)"
run new_member new.txt "(the writer also checks the address and provisions the identity and its membership)"
batches=$(curl -fsS "$iss/metrics" | awk '/^sign_on_batch_size_sum/{s=$2} /^sign_on_batch_size_count/{c=$2} END{if (c) printf "%d batches, %.1f sign-ons each", c, s/c}')
echo "sqlite_writer ${batches:-no batches (not SQLite)}"
[ -f "$work/latchkey.db-wal" ] && echo "sqlite_wal_mb $(du -m "$work/latchkey.db-wal" | cut -f1)"
echo "after_load_rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status)"
if [ -f "$work/latchkey.db" ]; then
  echo "sessions_opened $(python3 - "$work/latchkey.db" <<'PY'
import sqlite3, sys
print(sqlite3.connect(sys.argv[1]).execute("select count(*) from sessions").fetchone()[0])
PY
)"
fi
