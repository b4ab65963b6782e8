#!/usr/bin/env bash
# Start-up time, idle memory and the discovery/JWKS hot paths of `latchkey serve`, measured
# side by side with node-oidc-provider (the peer in ../shared/bench) on this machine.
#   bench/serve.sh [SECONDS]        needs: wrk, python3, node + npm (for the peer)
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
export LATCHKEY_ISSUER=http://127.0.0.1:$port LATCHKEY_LISTEN=127.0.0.1:$port
export LATCHKEY_DATABASE_URL="sqlite://$work/latchkey.db?mode=rwc"
export LATCHKEY_KEYS__MASTER_KEY=$(python3 -c 'import base64,os; print(base64.b64encode(os.urandom(32)).decode())')

# Time from exec to the first 200 from /readyz, polling every millisecond.
ready_ms() {
  python3 - "$bin" "$port" <<'PY'
import http.client, subprocess, sys, time
bin, port = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
proc = subprocess.Popen([bin, "serve"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
while True:
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", "/readyz")
        if c.getresponse().status == 200: break
    except OSError: pass
    if time.perf_counter() - start > 30: sys.exit("not ready after 30 s")
    time.sleep(0.001)
print(f"{(time.perf_counter() - start) * 1000:.1f} {proc.pid}")
PY
}
rss_mb() { awk '/VmRSS/{printf "%.1f", $2/1024}' "/proc/$1/status"; }

read -r first pid < <(ready_ms); kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=
echo "first_start_ms $first (creates the database, migrates, generates ES256 and RSA-2048 keys)"
runs=()
for _ in 1 2 3 4 5; do
  read -r ms pid < <(ready_ms); runs+=("$ms"); kill -TERM "$pid"; while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done; pid=
done
echo "start_to_ready_ms $(printf '%s\n' "${runs[@]}" | sort -n | sed -n 3p) (median of 5, migrated database: ${runs[*]})"

read -r _ pid < <(ready_ms)
sleep 2
echo "idle_rss_mb $(rss_mb "$pid")"
echo "== latchkey (NAME req/s p50_ms p99_ms errors)"
"$shared/bench/oidc-bench.sh" "http://127.0.0.1:$port" none none "" "$secs" | grep -E '^(discovery|jwks) '
echo "rss_mb_after_load $(rss_mb "$pid")"
kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=

# The peer installs its node_modules, so it runs from a writable copy of ../shared/bench.
if command -v npm >/dev/null; then
  peer=${LATCHKEY_PEER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/latchkey-bench-peer}
  mkdir -p "$peer/peer-node"
  cp "$shared/bench/oidc-bench.sh" "$peer/"
  cp "$shared/bench/peer-node/"{bench.sh,package.json,package-lock.json,server.mjs} "$peer/peer-node/"
  echo "== node-oidc-provider (same script, same machine)"
  bash "$peer/peer-node/bench.sh" "$secs" | grep -E '^(discovery|jwks|rss)'
else
  echo "npm not found: the peer was not measured"
fi
