#!/usr/bin/env bash
# A soak: 256 connections for 10 minutes (SOAK_SECONDS), a mix of the provider's traffic —
# client_credentials tokens, introspection, the JWKS, complete code flows (authorize with a
# signed-in session → code → token), userinfo with the person's token, and sign-in requests
# that queue mail — in 30-second rounds. After each round it prints the round's requests/s,
# p50 and p99, the errors (5xx and socket errors; there should be none) and the RSS, so the
# curves can be read: RSS flat after warm-up, p99 stable.
#   bench/soak.sh                   SQLite (the default)
#   LATCHKEY_BENCH_DATABASE_URL=postgres://… bench/soak.sh
#   SOAK_SECONDS=120 CONNECTIONS=64 bench/soak.sh
# Needs wrk, python3 and curl. Prints figures for people to read; nothing passes or fails here.
set -euo pipefail
seconds=${SOAK_SECONDS:-600} conns=${CONNECTIONS:-256} round=${ROUND_SECONDS:-30}
root=$(cd "$(dirname "$0")/.." && pwd)
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
export LATCHKEY_LOGIN__RATE_LIMIT_PER_ADDRESS=1000000
export LATCHKEY_KEYS__MASTER_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

machine=$("$bin" client create --json --name soak --grant-type client_credentials --scope api 2>/dev/null)
id=$(field client_id <<<"$machine") secret=$(field client_secret <<<"$machine")
redirect=http://127.0.0.1:9/cb
web=$("$bin" client create --json --name soak-web --first-party --redirect-uri $redirect 2>/dev/null)
web_id=$(field client_id <<<"$web") web_secret=$(field client_secret <<<"$web")

"$bin" serve 2>"$work/serve.log" & pid=$!
for _ in $(seq 100); do curl -fsS "$iss/readyz" >/dev/null 2>&1 && break; sleep 0.1; done

# A person signs in once through the file outbox; the flows reuse the session.
csrf=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
curl -fsS -o /dev/null -b "latchkey-csrf=$csrf" -d "csrf=$csrf&email=soak%40example.com" "$iss/register"
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
machine_token=$(curl -fsS -u "$id:$secret" -d "grant_type=client_credentials&scope=api" "$iss/token" | field access_token)
verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM
machine_basic=$(printf '%s:%s' "$id" "$secret" | base64 -w0)
web_basic=$(printf '%s:%s' "$web_id" "$web_secret" | base64 -w0)

cat > "$work/mix.lua" <<LUA
-- Each thread walks the mix in turn; a code is exchanged by the next request after it came
-- back, and the person's access token it gives is used at userinfo.
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function() step = 0; code = nil; user_token = nil; errors = 0; sent = 0 end
local form = "application/x-www-form-urlencoded"
request = function()
  sent = sent + 1
  if code then
    local body = "grant_type=authorization_code&code=" .. code .. "&redirect_uri=$redirect&code_verifier=$verifier"
    code = nil
    return wrk.format("POST", "/token", {["Content-Type"] = form, ["Authorization"] = "Basic $web_basic"}, body)
  end
  step = step % 8 + 1
  if step == 1 or step == 5 then
    return wrk.format("POST", "/token", {["Content-Type"] = form, ["Authorization"] = "Basic $machine_basic"},
      "grant_type=client_credentials&scope=api")
  elseif step == 2 then
    return wrk.format("POST", "/introspect", {["Content-Type"] = form, ["Authorization"] = "Basic $machine_basic"},
      "token=$machine_token")
  elseif step == 3 then
    return wrk.format("GET", "/.well-known/jwks.json")
  elseif step == 4 then
    return wrk.format("GET", "/authorize?response_type=code&client_id=$web_id&redirect_uri=$redirect&scope=openid%20email&state=s&nonce=n&code_challenge=$challenge&code_challenge_method=S256",
      {["Cookie"] = "latchkey-session=$session"})
  elseif step == 6 and user_token then
    return wrk.format("GET", "/userinfo", {["Authorization"] = "Bearer " .. user_token})
  elseif step == 7 then
    return wrk.format("POST", "/login", {["Content-Type"] = form, ["Cookie"] = "latchkey-csrf=$csrf"},
      "csrf=$csrf&email=soak" .. math.random(1, 100000) .. "%40example.com")
  end
  return wrk.format("GET", "/.well-known/openid-configuration")
end
response = function(status, headers, body)
  if status == 303 then
    local found = string.match(headers["location"] or headers["Location"] or "", "[?&]code=([^&]+)")
    if found then code = found end
  elseif status == 200 then
    local access = string.match(body, '"access_token":"([^"]+)"')
    if access and string.find(body, '"id_token"') then user_token = access end
  end
  if status >= 500 then errors = errors + 1 end
end
done = function(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do bad = bad + t:get("errors") end
  local e = summary.errors
  bad = bad + e.connect + e.read + e.write + e.timeout
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, bad))
end
LUA

rss() { awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status; }
echo "database ${LATCHKEY_DATABASE_URL%%:*}, $conns connections, ${seconds}s in ${round}s rounds"
echo "round elapsed_s req/s p50_ms p99_ms errors rss_mb"
echo "0 0 - - - - $(rss)"
elapsed=0 n=0 total_errors=0
while [ "$elapsed" -lt "$seconds" ]; do
  n=$((n + 1))
  out=$(wrk -t2 -c"$conns" -d"${round}s" --latency -s "$work/mix.lua" "$iss" | grep '^RESULT')
  elapsed=$((elapsed + round))
  set -- ${out#RESULT }
  total_errors=$((total_errors + $4))
  echo "$n $elapsed $1 $2 $3 $4 $(rss)"
done
echo "errors_total $total_errors"
echo "mail_files $(ls "$work/outbox" | wc -l)"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
