#!/usr/bin/env bash
# Runs every relive benchmark in release mode; one line per figure:
#   <system> <figure>: <value> <unit>
# Record results (with the machine, this command and the commit) in
# docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
cargo build --release -q -p relive-benches --bins
for bench in boundary actors upgrade; do
    echo "== $bench"
    cargo run --release -q -p relive-benches --bin "$bench"
done
