#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end suite, on SQLite and on the PostgreSQL at
# LATCHKEY_TEST_POSTGRES_URL (default: the local server on 127.0.0.1:5432, user postgres), with
# the pages driven in real Chromium. Debian's chromium and chromium-driver are installed when
# missing (as root); without them the browser tests fail rather than skip.
set -euo pipefail
cd "$(dirname "$0")"
export LATCHKEY_TEST_POSTGRES_URL=${LATCHKEY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    echo "Installing Debian's chromium and chromium-driver for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "The browser tests need Chromium: sudo apt-get install chromium chromium-driver" >&2
    exit 1
  fi
fi

exec cargo test --workspace --locked "$@"
