#!/usr/bin/env bash
# The provider's hot paths under load, side by side with node-oidc-provider (../shared/bench):
# the token endpoint with client_credentials (right and wrong secret), introspection of a JWT
# access token, complete authorization-code flows (authorize with a signed-in session → code →
# token), and the memory after the load.
#   bench/tokens.sh [SECONDS]       needs: wrk, python3, curl; node + npm for the peer
# Prints figures for people to read; nothing here passes or fails on a number.
set -euo pipefail
secs=${1:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${LATCHKEY_SHARED:-$root/../shared}
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
(cd "$root" && cargo build --release --quiet)
bin=$root/target/release/latchkey
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iss=http://127.0.0.1:$port
export LATCHKEY_ISSUER=$iss LATCHKEY_LISTEN=127.0.0.1:$port LATCHKEY_LOG__LEVEL=warn
export LATCHKEY_DATABASE_URL=${LATCHKEY_BENCH_DATABASE_URL:-"sqlite://$work/latchkey.db?mode=rwc"}
export LATCHKEY_MAIL__OUTBOX_DIR=$work/outbox LATCHKEY_HTTP__RATE_LIMIT_PER_IP=100000000
export LATCHKEY_KEYS__MASTER_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

machine=$("$bin" client create --json --name bench --grant-type client_credentials --scope api 2>/dev/null)
id=$(field client_id <<<"$machine") secret=$(field client_secret <<<"$machine")
redirect=http://127.0.0.1:9/cb
web=$("$bin" client create --json --name bench-web --first-party --redirect-uri $redirect 2>/dev/null)
web_id=$(field client_id <<<"$web") web_secret=$(field client_secret <<<"$web")

"$bin" serve 2>"$work/serve.log" & pid=$!
for _ in $(seq 100); do curl -fsS "$iss/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
echo "idle_rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status)"

report='done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
end'

echo "== latchkey (NAME req/s p50_ms p99_ms errors)"
"$shared/bench/oidc-bench.sh" "$iss" "$id" "$secret" api "$secs" | grep -E '^(token|introspection) '

# A wrong secret must be refused about as fast as a right one is served (no slow hash, no sleep).
# wrk counts the 401s as errors; here they are the expected answer.
wrong=$(printf '%s:%s' "$id" "wrong-secret-wrong-secret-wrong-secret-000" | base64 -w0)
cat > "$work/wrong.lua" <<LUA
wrk.method = "POST"
wrk.body = "grant_type=client_credentials&scope=api"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $wrong"
$report
LUA
out=$(wrk -t2 -c64 -d"${secs}s" --latency -s "$work/wrong.lua" "$iss/token" | grep '^RESULT')
echo "token_wrong_secret ${out#RESULT } (every answer a 401 invalid_client)"

# A person signs in once through the file outbox; the flows then reuse the session.
csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
curl -fsS -o /dev/null -b "latchkey-csrf=$csrf" -d "csrf=$csrf&email=bench%40example.com" "$iss/register"
for _ in $(seq 50); do ls "$work/outbox"/*.eml >/dev/null 2>&1 && break; sleep 0.1; done
token=$(python3 - "$work/outbox" <<'PY'
import email, glob, re, sys
msg = email.message_from_binary_file(open(glob.glob(sys.argv[1] + "/*.eml")[0], "rb"))
text = "".join(p.get_payload(decode=True).decode() for p in msg.walk() if p.get_content_type() == "text/plain")
print(re.search(r"token=([A-Za-z0-9_.-]+)", text).group(1))
PY
)
session=$(curl -fsS -o /dev/null -D - -b "latchkey-csrf=$csrf" -d "csrf=$csrf&token=$token" "$iss/login/verify" \
  | sed -n 's/^set-cookie: latchkey-session=\([^;]*\).*/\1/Ip')
verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
basic=$(printf '%s:%s' "$web_id" "$web_secret" | base64 -w0)
cat > "$work/flow.lua" <<LUA
-- Each connection alternates: GET /authorize (signed in) → 303 with a code → POST /token.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() code = nil; flows = 0; failures = 0 end
request = function()
  if code then
    local body = "grant_type=authorization_code&code=" .. code .. "&redirect_uri=$redirect&code_verifier=$verifier"
    code = nil
    return wrk.format("POST", "/token", {["Content-Type"] = "application/x-www-form-urlencoded",
      ["Authorization"] = "Basic $basic"}, body)
  end
  return wrk.format("GET", "/authorize?response_type=code&client_id=$web_id&redirect_uri=$redirect&scope=openid%20email&state=s&nonce=n&code_challenge=$challenge&code_challenge_method=S256",
    {["Cookie"] = "latchkey-session=$session"})
end
response = function(status, headers, body)
  if status == 303 then
    code = string.match(headers["location"] or headers["Location"] or "", "[?&]code=([^&]+)")
    if not code then failures = failures + 1 end
  elseif status == 200 then flows = flows + 1
  else failures = failures + 1 end
end
done = function(summary, latency, requests)
  local total, bad = 0, 0
  for _, t in ipairs(threads) do total = total + t:get("flows"); bad = bad + t:get("failures") end
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", total / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
LUA
out=$(wrk -t2 -c64 -d"${secs}s" --latency -s "$work/flow.lua" "$iss" | grep '^RESULT')
echo "code_flows ${out#RESULT } (flows/s; latency is per request, two requests a flow)"
echo "rss_mb_after_load $(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status)"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=

# The peer installs its node_modules, so it runs from a writable copy of ../shared/bench.
if command -v npm >/dev/null; then
  peer=${LATCHKEY_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey-bench-peer}
  mkdir -p "$peer/peer-node"
  cp "$shared/bench/oidc-bench.sh" "$peer/"
  cp "$shared/bench/peer-node/"{bench.sh,package.json,package-lock.json,server.mjs} "$peer/peer-node/"
  echo "== node-oidc-provider (same script, same machine)"
  bash "$peer/peer-node/bench.sh" "$secs" | grep -E '^(token|introspection|rss)'
else
  echo "npm not found: the peer was not measured"
fi
