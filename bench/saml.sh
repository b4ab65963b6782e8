#!/usr/bin/env bash
# SAML sign-on under load: a complete SP-initiated sign-on for a signed-in person (POST
# /saml/teams/TEAM/sso with a fresh AuthnRequest, read, checked, kept as answered and answered with a
# signed Response), for an SP that takes signed assertions, and for one that also has them
# encrypted (AES-256-GCM, RSA-OAEP). Beside them, for where the time goes: the same request
# from a browser that is not signed in (read, checked and kept; a redirect to sign in), and
# the team's metadata (served from the identity provider built once per team certificate). On SQLite by default (LATCHKEY_BENCH_DATABASE_URL for
# another database).
#   bench/saml.sh [SECONDS]       needs: wrk, python3, curl, openssl
#   PROFILE=1 bench/saml.sh       also records the signed sign-ons with perf into /tmp/perf.data
#                                 (perf report -i /tmp/perf.data --no-children)
#   SHOW_STATUSES=1 bench/saml.sh also prints the HTTP statuses each wrk thread met
#   PEER=1 bench/saml.sh          then measures a peer in the same run: samlify (Node.js) as the
#                                 identity provider (bench/peer-saml/idp.js), under the same wrk
#                                 load for the same two SPs, and prints Latchkey's sign-ons/s over
#                                 the peer's (ratio_signed, ratio_encrypted). Also needs node and
#                                 npm (it installs bench/peer-saml/node_modules with npm ci when
#                                 missing). The peer keeps no session and no database and does not
#                                 validate the AuthnRequest against the schema: it does less per
#                                 sign-on (bench/peer-saml/idp.js says what).
# Prints figures for people to read; nothing here passes or fails on a number.
set -euo pipefail
secs=${1:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
if [ -n "${PEER:-}" ]; then
  command -v node >/dev/null && command -v npm >/dev/null || { echo "PEER=1 needs node and npm" >&2; exit 1; }
fi
(cd "$root" && cargo build --release --quiet -p latchkey-server -p agent-widget-example)
bin=$root/target/release/latchkey
widget=$root/target/release/agent-widget-example
work=$(mktemp -d)
pid= peer_pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
iss=http://127.0.0.1:$port
export LATCHKEY_ISSUER=$iss LATCHKEY_LISTEN=127.0.0.1:$port LATCHKEY_LOG__LEVEL=warn
export LATCHKEY_DATABASE_URL=${LATCHKEY_BENCH_DATABASE_URL:-"sqlite://$work/latchkey.db?mode=rwc"}
export LATCHKEY_MAIL__OUTBOX_DIR=$work/outbox
# Sign-ons are limited per client IP; wrk is one IP.
export LATCHKEY_HTTP__RATE_LIMIT_PER_IP=100000000
export LATCHKEY_KEYS__MASTER_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')
export LATCHKEY_URL=$iss WIDGET_ISSUER=https://helpdesk.bench.example AGENT_EMAIL=agent@bench.example
field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

team=$("$bin" team create --json --name Bench --admin admin@bench.example 2>/dev/null | field team_id)
# The team's own SAML identity provider.
sso=/saml/teams/$team/sso metadata=/saml/teams/$team/metadata
(cd "$work" && "$widget" mint 1 >/dev/null && "$widget" mint 1 same >token.txt)
"$bin" issuer add --team "$team" --issuer "$WIDGET_ISSUER" --public-key-file "$work/widget-public.pem" >/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/sp.key" -out "$work/sp.crt" -days 2 \
  -subj /CN=bench-sp 2>/dev/null
for sp in plain encrypted; do
  extra=()
  [ "$sp" = encrypted ] && extra=(--encrypt-cert "$work/sp.crt" --encryption aes256-gcm)
  "$bin" saml-sp add --team "$team" --entity-id "https://$sp.bench.example" \
    --acs-url "https://$sp.bench.example/acs" "${extra[@]}" >/dev/null 2>&1
done

"$bin" serve 2>"$work/serve.log" & pid=$!
for _ in $(seq 100); do curl -fsS "$iss/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 1
# A signed-in member of the team: an integration's token opens the session.
curl -fsS -o /dev/null -c "$work/jar" -X POST --data-urlencode "token=$(cat "$work/token.txt")" "$iss/sso/jwt"
cookie=$(grep -v '^# ' "$work/jar" | awk 'NF >= 7 {printf "%s%s=%s", sep, $6, $7; sep="; "}')

# Each connection alternates: POST a new AuthnRequest (its ID unique per run, thread and count:
# a repeated ID is a replay, refused),
# then GET where it was sent. One connection per thread, so the two alternate in order.
lua() { # ENTITY_ID SIGNED_OUT RUN
  cat <<LUA
local threads = {}
function setup(thread) thread:set("id", #threads + 1); table.insert(threads, thread) end
local b = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
local chars = {}
for i = 1, 64 do chars[i - 1] = b:sub(i, i) end
-- Three bytes at a time: the client must not be what the benchmark measures.
local function base64(data)
  local out, len = {}, #data
  for i = 1, len, 3 do
    local x, y, z = data:byte(i, i + 2)
    local n = x * 65536 + (y or 0) * 256 + (z or 0)
    out[#out + 1] = chars[math.floor(n / 262144) % 64] .. chars[math.floor(n / 4096) % 64]
      .. (y and chars[math.floor(n / 64) % 64] or '=') .. (z and chars[n % 64] or '=')
  end
  return table.concat(out)
end
local function urlencode(s) return (s:gsub('[^%w%-_%.~]', function(c) return string.format('%%%02X', c:byte()) end)) end
local n, location, cookie = 0, nil, ("$2" == "" and "$cookie" or "")
function request()
  if location and "$2" == "" then
    local path = location
    location = nil
    return wrk.format("GET", path, { Cookie = cookie })
  end
  n = n + 1
  local xml = string.format('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_b$3_%d_%d_%d" Version="2.0" IssueInstant="%s" AssertionConsumerServiceURL="$1/acs"><saml:Issuer>$1</saml:Issuer></samlp:AuthnRequest>',
    id, n, math.random(1, 1000000000), os.date('!%Y-%m-%dT%H:%M:%SZ'))
  return wrk.format("POST", "$sso", { ["Content-Type"] = "application/x-www-form-urlencoded", Cookie = cookie },
    "SAMLRequest=" .. urlencode(base64(xml)))
end
local statuses = {}
function response(status, headers, body)
  if status == 303 then location = headers["Location"] or headers["location"] end
  statuses[status] = (statuses[status] or 0) + 1
  local seen = {}
  for code, count in pairs(statuses) do table.insert(seen, code .. ":" .. count) end
  table.sort(seen)
  answers = table.concat(seen, " ")
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.2f %.2f %d\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.connect + e.read + e.write + e.timeout + e.status))
  for _, thread in ipairs(threads) do io.write("STATUSES ", tostring(thread:get("answers")), "\n") end
end
LUA
}
metric() { curl -fsS "$iss/metrics" | awk '/^saml_sign_ons_total/{print $2}' | cut -d. -f1; }
run() { # NAME ENTITY_ID SIGNED_OUT NOTE
  lua "$2" "$3" "$1" >"$work/$1.lua"
  before=$(metric); before=${before:-0}
  full=$(wrk -t8 -c8 -d"${secs}s" --latency -s "$work/$1.lua" "$iss$sso")
  out=$(grep "^RESULT" <<<"$full")
  [ -n "${SHOW_STATUSES:-}" ] && grep "^STATUSES" <<<"$full" | head -2
  read -r rate p50 p99 errors <<<"${out#RESULT }"
  after=$(metric); after=${after:-0}
  if [ -z "$3" ]; then
    printf -v "sign_ons_$1" %s $(( (after - before) / secs ))
    echo "$1 $(( (after - before) / secs )) sign-ons/s ($rate req/s) p50 ${p50} ms p99 ${p99} ms errors $errors $4"
  else
    echo "$1 $rate req/s p50 ${p50} ms p99 ${p99} ms errors $errors $4"
  fi
}
echo "idle_rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status)"
out=$(wrk -t2 -c16 -d"${secs}s" --latency -s <(echo 'done = function(s, l, r) io.write(string.format("RESULT %.0f %.2f %.2f %d\n", s.requests / (s.duration / 1e6), l:percentile(50) / 1000, l:percentile(99) / 1000, s.errors.status)) end') "$iss$metadata" | grep '^RESULT')
echo "metadata ${out#RESULT } (req/s p50 p99 errors: the cached identity provider, no signing)"
run signed_out https://plain.bench.example 1 "(read and check the AuthnRequest, keep it: one insert; a redirect to sign in)"
[ -n "${PROFILE:-}" ] && { perf record -e cpu-clock -F 499 -g -o /tmp/perf.data -p "$pid" -- sleep 4 >/dev/null 2>&1 & }
run signed https://plain.bench.example "" "(read and check, the session and the member, keep it answered, sign the assertion)"
run encrypted https://encrypted.bench.example "" "(the same, the assertion also encrypted to the SP)"
echo "after_load_rss_mb $(awk '/VmRSS/{printf "%.1f", $2/1024}' /proc/$pid/status)"
answered=$(curl -fsS "$iss/metrics" | awk '/^saml_sign_ons_total/{print $2}')
echo "saml_sign_ons_total ${answered:-0}"
grep -c ' ERROR ' "$work/serve.log" | sed 's/^/error_log_lines /' || true

[ -n "${PEER:-}" ] || exit 0
# The peer: samlify as the identity provider, alone on the machine (Latchkey stopped), under the
# same wrk script, threads, connections and seconds. It has no /metrics: a sign-on is a 200.
kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=
peer=$root/bench/peer-saml
[ -d "$peer/node_modules" ] || npm ci --prefix "$peer" --no-audit --no-fund --silent
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/idp.key" -out "$work/idp.crt" -days 2 \
  -subj /CN=bench-peer-idp 2>/dev/null
peer_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
peer_url=http://127.0.0.1:$peer_port
PORT=$peer_port IDP_KEY=$work/idp.key IDP_CERT=$work/idp.crt SP_CERT=$work/sp.crt \
  node "$peer/idp.js" >"$work/peer.log" 2>&1 & peer_pid=$!
for _ in $(seq 100); do curl -fsS "$peer_url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "$peer_url/healthz" >/dev/null 2>&1 || { echo "the peer did not start:" >&2; cat "$work/peer.log" >&2; exit 1; }
sleep 1
# One sign-on each first: a peer that answers errors fast is not a benchmark.
peer_check() { # ENTITY_ID ENCRYPTED
  python3 - "$peer_url" "$1" "$2" <<'PY'
import base64, re, sys, urllib.error, urllib.parse, urllib.request, uuid, datetime
import xml.etree.ElementTree as ET
url, sp, encrypted = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
rid = "_check_" + uuid.uuid4().hex
now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
xml = (f'<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"'
       f' ID="{rid}" Version="2.0" IssueInstant="{now}" AssertionConsumerServiceURL="{sp}/acs"><saml:Issuer>{sp}</saml:Issuer></samlp:AuthnRequest>')
body = urllib.parse.urlencode({"SAMLRequest": base64.b64encode(xml.encode()).decode()}).encode()
def fail(why): sys.exit(f"the peer's answer for {sp} is not a sign-on: {why}")
try:
    page = urllib.request.urlopen(url + "/saml/sso", body, timeout=10).read().decode()
except urllib.error.HTTPError as e:
    fail(f"HTTP {e.code}: {e.read()[:200]!r}")
m = re.search(r'name="SAMLResponse" value="([^"]+)"', page)
if not m: fail("no SAMLResponse in the page")
root = ET.fromstring(base64.b64decode(m.group(1)))
ds, saml = "{http://www.w3.org/2000/09/xmldsig#}", "{urn:oasis:names:tc:SAML:2.0:assertion}"
if root.get("InResponseTo") != rid: fail("InResponseTo is not the request's ID")
if encrypted:
    if root.find(saml + "EncryptedAssertion") is None: fail("no EncryptedAssertion")
    if root.find(saml + "Assertion") is not None: fail("an Assertion in the clear")
elif root.find(f"{saml}Assertion/{ds}Signature") is None:
    fail("no ds:Signature in the assertion")
PY
}
peer_check https://plain.bench.example 0
peer_check https://encrypted.bench.example 1
peer_run() { # NAME ENTITY_ID NOTE
  lua "$2" "" "peer_$1" >"$work/peer_$1.lua"
  full=$(wrk -t8 -c8 -d"${secs}s" --latency -s "$work/peer_$1.lua" "$peer_url/saml/sso")
  out=$(grep "^RESULT" <<<"$full")
  [ -n "${SHOW_STATUSES:-}" ] && grep "^STATUSES" <<<"$full" | head -2
  read -r rate p50 p99 errors <<<"${out#RESULT }"
  ok=$(grep "^STATUSES" <<<"$full" | tr ' ' '\n' | awk -F: '$1 == 200 {n += $2} END {print n + 0}')
  printf -v "peer_sign_ons_$1" %s $(( ok / secs ))
  echo "peer_$1 $(( ok / secs )) sign-ons/s ($rate req/s) p50 ${p50} ms p99 ${p99} ms errors $errors $3"
}
head -1 "$work/peer.log"
peer_run signed https://plain.bench.example "(samlify: read the AuthnRequest, sign the assertion; no session, no store)"
peer_run encrypted https://encrypted.bench.example "(the same, the assertion also encrypted: AES-256-GCM, RSA-OAEP)"
echo "peer_after_load_rss_mb $(ps -o rss= --ppid "$peer_pid" -p "$peer_pid" | awk '{s += $1} END {printf "%.1f", s / 1024}') (all its processes)"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f\n", a / b; else print "n/a" }'; }
echo "ratio_signed $(ratio "${sign_ons_signed:-0}" "$peer_sign_ons_signed") (Latchkey's sign-ons/s over the peer's)"
echo "ratio_encrypted $(ratio "${sign_ons_encrypted:-0}" "$peer_sign_ons_encrypted")"
