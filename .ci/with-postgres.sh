#!/usr/bin/env bash
# Run a command against a throwaway PostgreSQL server started by .ci/postgres.sh, with fsync on
# (PG_FSYNC=off to change) on port 55433 (PGPORT_CI to change; 55432 is the tests' port), its
# SQLAlchemy URL in $LINEAGE_PG_URL; the server is stopped and its folder removed afterwards.
# Where no server can be started it says why and exits 0 without running the command, so that
# `make bench` works on machines without PostgreSQL.
#
#   .ci/with-postgres.sh sh -c 'python -m bench.lineage_service --store "$LINEAGE_PG_URL"'
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
errors=$(mktemp)
if ! out=$(PGPORT_CI=${PGPORT_CI:-55433} PG_FSYNC=${PG_FSYNC:-on} "$here/postgres.sh" 2>"$errors"); then
  echo "with-postgres.sh: SKIPPED, no PostgreSQL server could be started here ($(tail -1 "$errors")): $*" >&2
  rm -f "$errors"
  exit 0
fi
rm -f "$errors"
url=$(sed -n 1p <<<"$out")
stop=$(sed -n 2p <<<"$out")
folder=$(sed -n 's|.* -D \(/tmp/ci-postgres\.[^ /]*\)/data .*|\1|p' <<<"$stop")
cleanup() {
  $stop >/dev/null 2>&1 || true
  [ -z "$folder" ] || rm -rf "$folder"
}
trap cleanup EXIT
echo "with-postgres.sh: PostgreSQL at $url (fsync=${PG_FSYNC:-on})" >&2
LINEAGE_PG_URL=$url "$@"
