#!/usr/bin/env bash
# What the tests need that pip cannot install: PostgreSQL's server (a real database for
# the store, lock and queue tests). Installs it from Debian's packages when it is
# missing; does nothing when it is there. Needs root (or sudo) only to install.
set -euo pipefail

missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || command -v initdb >/dev/null || missing+=(postgresql)

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
