#!/usr/bin/env bash
# Memcheck runs: the counter demo and a chaos soak under valgrind, failing on
# any invalid read or write and on any definite leak.
#
#   soak/valgrind.sh [SOAK_SECONDS]      (default 30)
#
# Both binaries are debug builds; the module libraries they load are built
# (by cargo, outside valgrind) before the runs. Logs go to target/valgrind/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 2; }
cargo build -q -p counter-example-host -p relive-soak
mkdir -p target/valgrind
# RUST_BACKTRACE=0: with backtraces on, a module's panic fills std's
# symbolisation caches inside the module's own copy of std, which are lost
# when the library is unloaded (std's, not relive's).
export RUST_BACKTRACE=0
memcheck=(valgrind --tool=memcheck --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite --show-leak-kinds=definite --num-callers=30
    --suppressions=soak/valgrind.supp)

echo "== counter demo under memcheck"
"${memcheck[@]}" --log-file=target/valgrind/demo.log target/debug/counter-example-host
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost" target/valgrind/demo.log

echo "== soak (${seconds} s) under memcheck"
"${memcheck[@]}" --log-file=target/valgrind/soak.log \
    target/debug/relive-soak --seconds "$seconds" --slow 50 2>/dev/null
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost" target/valgrind/soak.log
