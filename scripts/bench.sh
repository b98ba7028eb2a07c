#!/usr/bin/env bash
# Benchmarks rakit-job on every store and regenerates docs/performance.md with its charts.
#
#   scripts/bench.sh                 rakit-job alone: 20,000 jobs, concurrency 1,4,16,64, 3 rounds
#   scripts/bench.sh --peers         the same, alternating with apalis and riverqueue (builds
#                                    benches/peers, a separate workspace, on first use: slow)
#   scripts/bench.sh --quick         2,000 jobs, concurrency 1,16, one round: a smoke run
#   scripts/bench.sh --stores sqlite,redis --jobs 5000 ...   any option of `rakit-job-benches run`
#
# It builds in release, makes sure PostgreSQL, MariaDB, Redis and memcached run
# (scripts/services.sh), runs the benchmarks (results in target/bench/results.json, worker
# logs and SQLite files in target/bench/data), then rewrites the results block of
# docs/performance.md and docs/performance-*.svg. Every phase is bounded (--phase-timeout,
# 900 s by default) and the whole run by BENCH_TIMEOUT seconds (default 3 hours).
set -euo pipefail
cd "$(dirname "$0")/.."

peers=0
quick=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) peers=1 ;;
    --quick) quick=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) extra+=("$1") ;;
  esac
  shift
done

say() { printf '[bench] %s\n' "$*" >&2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
peers_target="${PEERS_TARGET_DIR:-$CARGO_TARGET_DIR/peers}"

say "making sure the stores run"
bash scripts/services.sh

say "building rakit-job-benches (release)"
cargo build --release -p rakit-job-benches
bin="$CARGO_TARGET_DIR/release/rakit-job-benches"
if [ "$peers" = 1 ]; then
  say "building benches/peers (release, its own workspace and target folder: $peers_target)"
  (cd benches/peers && CARGO_TARGET_DIR="$peers_target" cargo build --release)
  bin="$peers_target/release/rakit-job-peers"
fi

if [ "$quick" = 1 ]; then
  args=(--jobs 2000 --concurrency 1,16 --runs 1 --samples 30 --idle-secs 3)
else
  args=(--jobs 20000 --concurrency 1,4,16,64 --runs 3)
fi
mkdir -p target/bench
results=target/bench/results.json

say "running: $bin run ${args[*]} ${extra[*]:-}"
timeout --signal=INT "${BENCH_TIMEOUT:-10800}" "$bin" run "${args[@]}" ${extra[@]+"${extra[@]}"} --out "$results"

say "regenerating docs/performance.md and its charts"
"$bin" report --results "$results" --doc docs/performance.md
