#!/usr/bin/env bash
# Sourced (not run) by load-test.sh and .ci/run: make a PostgreSQL database
# available for the ledger and export DATABASE_URL for it.
#
# - DATABASE_URL already set: used as it is (the server is started first if
#   it is Debian's local cluster and down);
# - otherwise: Debian's first `postgresql` cluster is started if it is
#   installed and down, a `relive` role and database are created if missing,
#   and DATABASE_URL points at them.
# Without PostgreSQL installed, or if any step fails, it says it skips
# PostgreSQL and leaves DATABASE_URL unset (the ledger is then SQLite).
# PG_STARTED is "VERSION CLUSTER" when this started the cluster (stop it
# with `pg_ctlcluster $PG_STARTED stop`), else empty.
PG_STARTED=""
relive_pg_setup() {
    command -v pg_lsclusters >/dev/null || {
        echo "ledger: PostgreSQL is not installed (Debian: apt-get install postgresql): skipping it, SQLite only" >&2
        return 1
    }
    local ver cluster status
    read -r ver cluster _ status _ < <(pg_lsclusters --no-header | head -1) || return 1
    [ -n "$ver" ] || { echo "ledger: no PostgreSQL cluster: skipping it, SQLite only" >&2; return 1; }
    if [ "$status" != online ]; then
        pg_ctlcluster "$ver" "$cluster" start || return 1
        PG_STARTED="$ver $cluster"
    fi
    if [ -z "${DATABASE_URL:-}" ]; then
        local q="psql -qtAc"
        su postgres -c "$q \"SELECT 1 FROM pg_roles WHERE rolname='relive'\"" | grep -q 1 \
            || su postgres -c "psql -qc \"CREATE ROLE relive LOGIN PASSWORD 'relive'\"" || return 1
        su postgres -c "$q \"SELECT 1 FROM pg_database WHERE datname='relive'\"" | grep -q 1 \
            || su postgres -c "createdb -O relive relive" || return 1
        export DATABASE_URL=postgres://relive:relive@127.0.0.1/relive
    fi
    echo "ledger: PostgreSQL at $DATABASE_URL" >&2
}
relive_pg_setup || unset DATABASE_URL
