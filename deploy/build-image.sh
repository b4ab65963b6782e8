#!/usr/bin/env bash
# Assembles Latchkey's image root filesystem without a container engine, and checks it: the
# release binary, the C runtime it links (Debian's libc6 and libgcc-s1, as distroless "cc"
# has them), the CA bundle (ca-certificates), a passwd naming uid 65532, the configuration,
# and nothing else. deploy/Dockerfile copies the same tree into an empty image.
#
#   deploy/build-image.sh [ROOTFS]          build, assemble into ROOTFS (target/image), check
#   BINARY=path deploy/build-image.sh       use a binary already built (the Dockerfile does)
#   CHECK=0 deploy/build-image.sh           assemble only
#   LIMIT_MB=0 deploy/build-image.sh        no size limit (a debug binary)
#
# The check runs the binary in the tree with chroot, as uid 65532, in a network namespace of
# its own (loopback only: no network), and asks /readyz with `latchkey probe`. It needs root
# (chroot, unshare) and fails if the tree is over 40 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOTFS=${1:-target/image}
# 0 skips the size check (CI checks the tree with the debug binary the tests built).
LIMIT_MB=${LIMIT_MB:-40}
UID_GID=65532

if [ -z "${BINARY:-}" ]; then
  echo "== building the release binary"
  cargo build --release --locked -p latchkey-server
  BINARY=target/release/latchkey
fi

echo "== assembling $ROOTFS"
rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"/usr/local/bin "$ROOTFS"/etc/latchkey "$ROOTFS"/etc/ssl/certs \
  "$ROOTFS"/var/lib/latchkey "$ROOTFS"/tmp
debs=$(mktemp -d)
trap 'rm -rf "$debs"' EXIT
(cd "$debs" && apt-get download -qq -o APT::Sandbox::User=root libc6 libgcc-s1 ca-certificates >/dev/null)
for deb in "$debs"/*.deb; do
  dpkg-deb -x "$deb" "$debs/tree"
done
# The shared objects the binary needs, and the dynamic loader; no shells, no tools, no
# locales or character-set modules (the binary uses neither).
mkdir -p "$ROOTFS"/lib64 "$ROOTFS"/usr/lib/x86_64-linux-gnu
cp -a "$debs"/tree/usr/lib/x86_64-linux-gnu/*.so* "$ROOTFS"/usr/lib/x86_64-linux-gnu/ 2>/dev/null || true
cp -a "$debs"/tree/lib/x86_64-linux-gnu/*.so* "$ROOTFS"/usr/lib/x86_64-linux-gnu/ 2>/dev/null || true
cp -a "$debs"/tree/lib64/ld-linux-x86-64.so.2 "$ROOTFS"/lib64/ 2>/dev/null \
  || cp -a "$debs"/tree/usr/lib64/ld-linux-x86-64.so.2 "$ROOTFS"/lib64/
ln -s usr/lib "$ROOTFS"/lib
# The CA bundle update-ca-certificates would make, from the package's certificates.
cat "$debs"/tree/usr/share/ca-certificates/mozilla/*.crt > "$ROOTFS"/etc/ssl/certs/ca-certificates.crt
for lib in $(ldd "$BINARY" | awk '/=>/ { print $1 }'); do
  [ -e "$ROOTFS/usr/lib/x86_64-linux-gnu/$lib" ] || { echo "missing $lib in the tree" >&2; exit 1; }
done
strip -o "$ROOTFS"/usr/local/bin/latchkey "$BINARY"
# The image's own defaults, in the file rather than in the environment, so a mounted
# configuration (a Kubernetes ConfigMap) decides everything it names.
cat > "$ROOTFS"/etc/latchkey/latchkey.toml <<'TOML'
# Latchkey in its image. Every key, with its default, is documented in config/latchkey.toml of
# the source. Mount your own file here, or override a key with a LATCHKEY_* variable.
listen = "0.0.0.0:8080"
database_url = "sqlite:///var/lib/latchkey/latchkey.db?mode=rwc"

[mail]
outbox_dir = "/var/lib/latchkey/outbox"
TOML
cat > "$ROOTFS"/etc/passwd <<PASSWD
root:x:0:0:root:/root:/sbin/nologin
nonroot:x:$UID_GID:$UID_GID:nonroot:/var/lib/latchkey:/sbin/nologin
PASSWD
cat > "$ROOTFS"/etc/group <<GROUP
root:x:0:
nonroot:x:$UID_GID:
GROUP
printf 'hosts: files dns\n' > "$ROOTFS"/etc/nsswitch.conf
chmod 1777 "$ROOTFS"/tmp
if [ "$(id -u)" = 0 ]; then
  chown -R "$UID_GID:$UID_GID" "$ROOTFS"/var/lib/latchkey
fi

size=$(du -sb "$ROOTFS" | cut -f1)
size_mb=$(( (size + 1048575) / 1048576 ))
echo "   $size bytes ($size_mb MB): the binary $(stat -c %s "$ROOTFS"/usr/local/bin/latchkey) bytes"
if [ "$LIMIT_MB" != 0 ] && [ "$size" -gt $(( LIMIT_MB * 1048576 )) ]; then
  echo "the image is over $LIMIT_MB MB" >&2
  exit 1
fi

[ "${CHECK:-1}" = 1 ] || exit 0
echo "== checking: latchkey in the tree, as uid $UID_GID, with no network"
if [ "$(id -u)" != 0 ]; then
  echo "the check needs root (chroot, unshare): run as root, or CHECK=0" >&2
  exit 1
fi
master_key=$(head -c 32 /dev/urandom | base64)
unshare --net --fork -- bash -euo pipefail -c '
  rootfs=$1 uid=$2 key=$3 chroot=$4
  ip link set lo up
  # No route out: only loopback exists in this namespace.
  if ip route get 1.1.1.1 >/dev/null 2>&1; then echo "the namespace has a network" >&2; exit 1; fi
  run() {
    env -i LATCHKEY_KEYS__MASTER_KEY="$key" \
      "$chroot" --userspec="$uid:$uid" "$rootfs" /usr/local/bin/latchkey --config /etc/latchkey/latchkey.toml "$@"
  }
  run serve >"$rootfs/tmp/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    if run probe >/dev/null 2>&1; then break; fi
    sleep 0.2
  done
  run probe
  server=$(pgrep -P "$pid" -f "latchkey --config" || echo "$pid")
  owner=$(ps -o uid= -p "$server" | tr -d " ")
  [ "$owner" = "$uid" ] || { echo "runs as uid $owner, not $uid" >&2; exit 1; }
  echo "   serving as uid $owner, /readyz answered"
  kill -TERM "$server"
  wait "$pid" || true
  # What the check wrote (a database sealed under a throwaway key, its log) stays out of the
  # image.
  rm -rf "$rootfs"/var/lib/latchkey/* "$rootfs"/tmp/serve.log
' check "$ROOTFS" "$UID_GID" "$master_key" "$(command -v chroot)"
echo "== $ROOTFS is ready (deploy/Dockerfile copies it into an empty image)"
