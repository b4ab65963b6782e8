#!/usr/bin/env bash
# Checks deploy/ offline: every Kubernetes manifest against the Kubernetes JSON schemas that
# kubernetes-validate (PyPI) ships, strictly (an unknown field is an error); the compose file
# and the kustomization as YAML with the keys they need; the scripts' syntax.
set -euo pipefail
cd "$(dirname "$0")/.."

KUBERNETES_VERSION=1.33.0
venv=target/deploy-venv
if [ ! -x "$venv/bin/kubernetes-validate" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check kubernetes-validate==1.37.0
fi

manifests=()
for file in deploy/kubernetes/*.yaml; do
  [ "$(basename "$file")" = kustomization.yaml ] || manifests+=("$file")
done
"$venv/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "${manifests[@]}"
echo "   ${#manifests[@]} manifests valid against Kubernetes $KUBERNETES_VERSION"

"$venv/bin/python" - <<'PY'
import yaml
kustomization = yaml.safe_load(open("deploy/kubernetes/kustomization.yaml"))
import os
for resource in kustomization["resources"]:
    assert os.path.exists(os.path.join("deploy/kubernetes", resource)), resource
compose = yaml.safe_load(open("deploy/compose.yaml"))
services = compose["services"]
assert {"postgres", "latchkey-1", "latchkey-2", "mailpit", "caddy"} <= set(services), services
for name in ("latchkey-1", "latchkey-2"):
    env = services[name]["environment"]
    assert env["LATCHKEY_ISSUER"] == "https://localhost"
    assert env["LATCHKEY_KEYS__MASTER_KEY_FILE"].startswith("/run/secrets/")
print("   kustomization and compose.yaml hold together")
PY
for script in deploy/*.sh; do
  bash -n "$script"
done
echo "   scripts parse"
