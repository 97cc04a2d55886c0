# Sourced by scripts/cluster and scripts/bench_cluster: the cluster's store, the database
# softswitch_cluster of the local PostgreSQL (unless SOFTSWITCH_CLUSTER_PG_URL names one).
source "$ROOT/scripts/lib/postgres.sh"
if [ -z "${SOFTSWITCH_CLUSTER_PG_URL:-}" ] && [ -n "${SOFTSWITCH_TEST_PG_URL:-}" ]; then
  [ "$(pg_sql "SELECT 1 FROM pg_database WHERE datname='softswitch_cluster'")" = "1" ] \
    || pg_sql "CREATE DATABASE softswitch_cluster OWNER softswitch"
  export SOFTSWITCH_CLUSTER_PG_URL="${SOFTSWITCH_TEST_PG_URL%/*}/softswitch_cluster"
fi
