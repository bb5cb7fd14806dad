#!/usr/bin/env bash
# Runs every relive benchmark in release mode; one line per figure:
#   <system> <figure>: <value> <unit>
# Record results (with the machine, this command and the commit) in
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
cargo build --release -q -p relive-benches --bins
for bench in boundary actors upgrade supervisor; do
    echo "== $bench"
    # Module panic messages (the restart bench crashes children) go to stderr.
    RUST_BACKTRACE=0 cargo run --release -q -p relive-benches --bin "$bench" 2> >(grep -v "panicked at\|bench crash\|^note: " >&2)
done
