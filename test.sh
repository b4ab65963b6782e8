#!/usr/bin/env bash
# Runs every test: unit tests and the end-to-end suite, on SQLite and on the PostgreSQL at
# LATCHKEY_TEST_POSTGRES_URL (default: the local server on 127.0.0.1:5432, user postgres).
set -euo pipefail
cd "$(dirname "$0")"
export LATCHKEY_TEST_POSTGRES_URL=${LATCHKEY_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
exec cargo test --workspace --locked "$@"
