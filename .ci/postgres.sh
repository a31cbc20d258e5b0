#!/usr/bin/env bash
# Start a throwaway PostgreSQL server on loopback for the lineage store's PostgreSQL test and
# print its SQLAlchemy URL, then its stop command (.ci/system-packages.sh installs the server);
# exits non-zero, saying why, if there is none. fsync is off (a throwaway server for tests) unless
# PG_FSYNC=on (benchmarks: .ci/with-postgres.sh).
set -euo pipefail
find_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }
PGBIN=$(find_bin || true)
[ -n "$PGBIN" ] || { echo "postgres.sh: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
PORT=${PGPORT_CI:-55432}
FSYNC=${PG_FSYNC:-off}
DIR=$(mktemp -d /tmp/ci-postgres.XXXXXX)
RUN=()
if [ "$(id -u)" = 0 ]; then
  # The server refuses to run as root: run it as the package's postgres user.
  id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
  chown postgres "$DIR"
  RUN=(runuser -u postgres --)
fi
"${RUN[@]}" "$PGBIN/initdb" -D "$DIR/data" -A trust -U postgres >&2
"${RUN[@]}" "$PGBIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR -c fsync=$FSYNC" start >&2
echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
echo "${RUN[*]} $PGBIN/pg_ctl -D $DIR/data -m fast stop"
