#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end suite, on SQLite and on the PostgreSQL at
# LATCHKEY_TEST_POSTGRES_URL (default: the local server on 127.0.0.1:5432, user postgres), with
# the pages driven in real Chromium, and node-oidc-provider as a team's own identity provider.
# Debian's chromium, chromium-driver, dnsmasq-base, caddy, xmlsec1, apache2 and
# libapache2-mod-shib are installed when missing (as root), the provider with npm, pysaml2 and
# Authlib with pip; without them those tests fail rather than skip. The read-
# only and full SQLite disks are made in a mount namespace, which needs root: without it those
# two tests say so and pass without running.
set -euo pipefail
cd "$(dirname "$0")"
export LATCHKEY_TEST_POSTGRES_URL=${LATCHKEY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# Debian packages the tests run: Chromium for the pages, dnsmasq as the DNS a domain proof is
# checked against, Caddy as the load balancer in front of replicas (as in deploy/), xmlsec1
# for the SAML service provider (pysaml2) and to verify saved responses, Apache with
# mod_shib as a second SAML service provider in its default configuration (the Shibboleth SP).
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v caddy >/dev/null || missing+=(caddy)
command -v xmlsec1 >/dev/null || missing+=(xmlsec1)
[ -x /usr/sbin/apache2 ] || missing+=(apache2)
[ -x /usr/sbin/shibd ] && [ -e /usr/lib/apache2/modules/mod_shib.so ] || missing+=(libapache2-mod-shib)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's ${missing[*]} for the tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "The tests need: sudo apt-get install ${missing[*]}" >&2
    exit 1
  fi
fi

# node-oidc-provider, the identity provider a team signs in with in the connection tests.
if [ ! -d tests/e2e/upstream-op/node_modules/oidc-provider ]; then
  echo "Installing node-oidc-provider for the connection tests"
  npm ci --prefix tests/e2e/upstream-op --no-audit --no-fund --silent
fi

# pysaml2, the SAML service provider of the SAML tests, in a virtual environment of its own.
if [ ! -x tests/e2e/saml-sp/.venv/bin/python ] || ! tests/e2e/saml-sp/.venv/bin/python -c 'import saml2' 2>/dev/null; then
  echo "Installing pysaml2 for the SAML tests"
  python3 -m venv tests/e2e/saml-sp/.venv
  tests/e2e/saml-sp/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/saml-sp/requirements.txt
fi

# Authlib, a library whose private_key_jwt assertions the client-assertion tests present, in a
# virtual environment of its own.
if [ ! -x tests/e2e/authlib-client/.venv/bin/python ] || ! tests/e2e/authlib-client/.venv/bin/python -c 'import authlib' 2>/dev/null; then
  echo "Installing Authlib for the client-assertion tests"
  python3 -m venv tests/e2e/authlib-client/.venv
  tests/e2e/authlib-client/.venv/bin/pip install --quiet --disable-pip-version-check -r tests/e2e/authlib-client/requirements.txt
fi

exec cargo test --workspace --locked "$@"
