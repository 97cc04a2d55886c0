# Sourced by scripts/test: a local PostgreSQL for the store's contract tests (Debian's
# cluster tools). Exports SOFTSWITCH_TEST_PG_URL when the server is up; says why if not.
if ! command -v pg_lsclusters >/dev/null 2>&1; then
  echo "installing postgresql ..."
  apt_install postgresql || true
fi
if command -v pg_lsclusters >/dev/null 2>&1; then
  read -r pg_ver pg_name pg_port pg_status _ < <(pg_lsclusters -h | head -n 1)
  if [ -n "${pg_ver:-}" ]; then
    [ "$pg_status" = "online" ] || as_root pg_ctlcluster "$pg_ver" "$pg_name" start
    pg_sql() { as_root su postgres -c "psql -p $pg_port -tAc \"$1\""; }
    [ "$(pg_sql "SELECT 1 FROM pg_roles WHERE rolname='softswitch'")" = "1" ] \
      || pg_sql "CREATE ROLE softswitch LOGIN PASSWORD 'softswitch'"
    [ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname='softswitch_test'")" = "1" ] \
      || pg_sql "CREATE DATABASE softswitch_test OWNER softswitch"
    export SOFTSWITCH_TEST_PG_URL="postgresql+asyncpg://softswitch:softswitch@127.0.0.1:${pg_port}/softswitch_test"
  fi
fi
[ -n "${SOFTSWITCH_TEST_PG_URL:-}" ] || echo "!!! PostgreSQL could not be set up: its contract tests will be skipped" >&2
