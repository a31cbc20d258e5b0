#!/usr/bin/env bash
# Debian packages some tests use, installed when missing (CI runs on Debian as root, with its
# package registry): postgresql (the store's PostgreSQL test, .ci/postgres.sh; Airflow's metadata
# in the deployment tests), redis-server (the Celery broker the deployment starts on loopback,
# user_pipeline.deploy) and chromium (the web page in a real browser). Best effort: a test whose
# package is missing is skipped, saying so.
set -uo pipefail
missing=()
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || missing+=(postgresql)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-packages.sh: cannot install ${missing[*]} (needs root and apt-get)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
  || { apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; }
