#!/usr/bin/env bash
# The billing service under load while its business logic is upgraded, live.
#
#   examples/service_swap/load-test.sh        (UPGRADES=100 by default)
#
# Installs wrk (Debian) if missing, builds everything in release mode, starts
# the service on loopback, drives it with wrk for a steady phase and then
# while upgrading it UPGRADES times through the relive CLI (v1 <-> v2,
# atomic and gradual with a canary), checks the books, then a fault phase:
# an upgrade to a build that crash-loops under this traffic, rolled back by
# the supervisor while the load goes on. Talks to 127.0.0.1 only; stops
# everything it started. Exits non-zero on any failed request or lost state.
#
# Every charge is written through the host's `ledger` port to a database:
# SQLite (a file in the run's directory) by default; PostgreSQL when
# DATABASE_URL is set, or LEDGER=postgres (then Debian's postgresql cluster
# is started if it is installed and down, with a `relive` role and database;
# without PostgreSQL installed it says so and uses SQLite). After the run it
# prints `ledger_mismatches: N`: the accounts whose balance differs from the
# sum of their rows in the database (0 when every charge is in both).
set -euo pipefail
cd "$(dirname "$0")/../.."
UPGRADES=${UPGRADES:-100}
ACCOUNTS=${ACCOUNTS:-2000}
STEADY=${STEADY:-10}
PORT=${PORT:-18080}
POISON=$((ACCOUNTS - 1)) # the account the fault phase's bad orders go to

need() { command -v "$1" >/dev/null || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need wrk wrk
need curl curl

PG_STARTED=""
if [ -n "${DATABASE_URL:-}" ] || [ "${LEDGER:-}" = postgres ]; then
    # shellcheck source=postgres-env.sh
    . examples/service_swap/postgres-env.sh
else
    echo "ledger: SQLite (set DATABASE_URL or LEDGER=postgres for PostgreSQL)" >&2
fi

echo "building (release) …" >&2
cargo build --release -q -p service-swap-host -p relive-cli -p billing-v1 -p billing-v2 -p billing-v3
T=target/release
V1=$PWD/$T/libbilling_v1.so V2=$PWD/$T/libbilling_v2.so V3=$PWD/$T/libbilling_v3.so
WORK=$(mktemp -d)
SOCK=$WORK/run/admin.sock
URL=http://127.0.0.1:$PORT
HOST_PID=""
cleanup() {
    [ -n "$HOST_PID" ] && kill "$HOST_PID" 2>/dev/null
    wait 2>/dev/null
    # shellcheck disable=SC2086 # "VERSION CLUSTER"
    [ -n "$PG_STARTED" ] && pg_ctlcluster $PG_STARTED stop
    rm -rf "$WORK"
}
trap cleanup EXIT

$T/service-swap-host --listen 127.0.0.1:$PORT --admin "$SOCK" --module "$V1" --accounts "$ACCOUNTS" \
    --ledger "$WORK/ledger.sqlite3" \
    >"$WORK/host.out" 2>"$WORK/host.err" &
HOST_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/host.out" 2>/dev/null && break; sleep 0.1; done
grep -q listening "$WORK/host.out" || { cat "$WORK/host.err" >&2; exit 1; }
relive() { $T/relive --host "$SOCK" "$@"; }

cat >"$WORK/charge.lua" <<LUA
request = function()
  return wrk.format("POST", "/charge/" .. math.random(0, $ACCOUNTS - 2))
end
LUA
# wrk output -> "requests failed p50_ms p99_ms"
summarize() {
    awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    / requests in / { req = $1 }
    /Non-2xx or 3xx responses:/ { bad += $NF }
    /Socket errors:/ { gsub(",", ""); bad += $4 + $6 + $8 + $10 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { printf "%d %d %.3f %.3f\n", req, bad, p50, p99 }' "$1"
}
wrk_run() { wrk -t2 -c16 -d"$1"s --latency -s "$WORK/charge.lua" "$URL" >"$2"; }
# state lost = cents the service acknowledged - the sum of all balances,
# signed: positive means acknowledged charges are missing from the balances.
# Exact: every charge sent to an account is counted when it completes, even
# if wrk stopped waiting for its answer.
lost() {
    sleep 0.5 # let charges still in flight when wrk stopped complete
    curl -s "$URL/books" | sed -E 's/.*"acknowledged":([0-9]+).*"total_balance":([0-9]+).*/\1 \2/' \
        | awk '{ print $1 - $2 }'
}

echo "steady phase: ${STEADY}s" >&2
wrk_run "$STEADY" "$WORK/steady.txt"
read -r S_REQ S_BAD S_P50 S_P99 < <(summarize "$WORK/steady.txt")

echo "upgrade phase: $UPGRADES upgrades under load" >&2
DURATION=$((UPGRADES / 4 + 5))
wrk_run "$DURATION" "$WORK/during.txt" &
WRK_PID=$!
sleep 1
done_upgrades=0
for i in $(seq "$UPGRADES"); do
    case $((i % 4)) in
        1) relive upgrade billing "$V2" >/dev/null ;;
        3) relive upgrade billing "$V2" --gradual --canary 10% >/dev/null && relive promote billing >/dev/null ;;
        *) relive rollback billing >/dev/null && relive purge billing >/dev/null ;;
    esac
    done_upgrades=$((done_upgrades + 1))
done
wait "$WRK_PID"
read -r U_REQ U_BAD U_P50 U_P99 < <(summarize "$WORK/during.txt")
LOST=$(lost)

echo "fault phase: a build that crash-loops on 13-cent orders" >&2
BEFORE_VERSION=$(curl -s "$URL/version" | sed -E 's/.*"current":"([^"]+)".*/\1/')
relive purge billing >/dev/null
wrk_run 6 "$WORK/fault.txt" &
WRK_PID=$!
sleep 1
relive upgrade billing "$V3" >/dev/null
POISON_FAILED=0
for _ in 1 2 3; do
    code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/charge/$POISON?amount=13")
    [ "$code" = 200 ] || POISON_FAILED=$((POISON_FAILED + 1))
    sleep 0.05
done
wait "$WRK_PID"
read -r F_REQ F_BAD _ _ < <(summarize "$WORK/fault.txt")
VERSION=$(curl -s "$URL/version")
AFTER_VERSION=$(echo "$VERSION" | sed -E 's/.*"current":"([^"]+)".*/\1/')
ROLLBACKS=$(echo "$VERSION" | sed -E 's/.*"rollbacks":([0-9]+).*/\1/')
ROLLED_BACK=false
[ "$ROLLBACKS" = 1 ] && [ "$AFTER_VERSION" = "$BEFORE_VERSION" ] && ROLLED_BACK=true
F_LOST=$(lost)
OK_AFTER=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/charge/1")
sleep 0.5
LEDGER_CHECK=$(curl -s "$URL/ledger")
LEDGER_DB=$(echo "$LEDGER_CHECK" | sed -E 's/.*"database":"([a-z]+)".*/\1/')
LEDGER_MISMATCHES=$(echo "$LEDGER_CHECK" | sed -E 's/.*"mismatches":([0-9]+).*/\1/')

echo "requests: $((S_REQ + U_REQ))"
echo "failed_requests: $((S_BAD + U_BAD))"
echo "upgrades: $done_upgrades"
echo "p50_ms: $U_P50"
echo "p99_ms_steady: $S_P99"
echo "p99_ms_during_upgrades: $U_P99"
echo "state_lost: $LOST"
echo "crash_phase_failed_requests: $((F_BAD + POISON_FAILED)) (of which $POISON_FAILED hit the crashing actor)"
echo "crash_phase_rolled_back: $ROLLED_BACK"
echo "crash_phase_state_lost: $F_LOST"
echo "after_crash_phase_status: $OK_AFTER on $AFTER_VERSION"
echo "ledger_database: $LEDGER_DB"
echo "ledger_mismatches: $LEDGER_MISMATCHES"
if [ "$((S_BAD + U_BAD))" = 0 ] && [ "$LOST" = 0 ] && [ "$F_BAD" = 0 ] && [ "$F_LOST" = 0 ] \
    && [ "$ROLLED_BACK" = true ] && [ "$OK_AFTER" = 200 ] && [ "$LEDGER_MISMATCHES" = 0 ]; then
    echo "result: ok"
else
    echo "result: FAILED"
    exit 1
fi
