#!/usr/bin/env bash
# Benchmarks rakit-job on every store and regenerates docs/performance.md with its charts.
#
#   scripts/bench.sh                 rakit-job alone: 20,000 jobs, concurrency 1,4,16,64, 3 rounds
#   scripts/bench.sh --peers         the same, alternating with apalis and riverqueue, store by
#                                    store as docs/performance.md describes (builds benches/peers,
#                                    a separate workspace, on first use: slow; about 45 minutes)
#   scripts/bench.sh --quick         2,000 jobs, concurrency 1,16, one round: a smoke run
#   scripts/bench.sh --stores sqlite,redis --jobs 5000 ...   any option of `rakit-job-benches run`
#
# It builds in release, makes sure PostgreSQL, MariaDB, Redis and memcached run
# (scripts/services.sh), runs the benchmarks (results in target/bench/*.json, worker
# logs and SQLite files in target/bench/data), then rewrites the results block of
# docs/performance.md and docs/performance-*.svg. Every phase is bounded (--phase-timeout,
# 900 s by default) and each run of the bench binary by BENCH_TIMEOUT seconds (default 3 hours).
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

mkdir -p target/bench

# run NAME ARGS...: one invocation of the bench, its results in target/bench/NAME.json.
run() {
  local out="target/bench/$1.json"
  shift
  say "running: $bin run $* --out $out"
  timeout --signal=INT "${BENCH_TIMEOUT:-10800}" "$bin" run "$@" --out "$out"
}

if [ "$peers" = 1 ] && [ "$quick" = 0 ] && [ ${#extra[@]} -eq 0 ]; then
  # The comparison docs/performance.md shows, store by store. Each phase gets a limit the
  # systems can meet where they can (riverqueue dispatches, then drains, 20,000 jobs one at a
  # time in about 130 s), and a system that never can (apalis-sqlite) runs one round only,
  # so the whole comparison takes about 45 minutes instead of hours of abandoned phases.
  full=(--jobs 20000 --concurrency 1,4,16,64)
  run postgres "${full[@]}" --stores postgres --runs 3 --phase-timeout 150
  run sqlite "${full[@]}" --stores sqlite --systems rakit-job,riverqueue --runs 3 --phase-timeout 90
  run sqlite-apalis "${full[@]}" --stores sqlite --systems apalis --runs 1 --phase-timeout 60 --no-bounds
  run redis "${full[@]}" --stores redis --systems rakit-job --runs 3 --phase-timeout 90
  run others "${full[@]}" --stores mysql,file,memcached --runs 1 --phase-timeout 150
  # apalis-redis cannot drain 20,000 jobs (docs/performance.md): Redis is compared at 5,000.
  run redis-5000 --jobs 5000 --concurrency 1,4,16,64 --stores redis --systems rakit-job,apalis \
    --runs 3 --phase-timeout 90 --no-bounds
  say "Redis with apalis at N = 5,000 (the page's table is N = 20,000; quote these in its text):"
  "$bin" report --results target/bench/redis-5000.json
  results=target/bench/postgres.json,target/bench/sqlite.json,target/bench/sqlite-apalis.json
  results+=,target/bench/redis.json,target/bench/others.json
else
  if [ "$quick" = 1 ]; then
    args=(--jobs 2000 --concurrency 1,16 --runs 1 --samples 30 --idle-secs 3)
  else
    args=(--jobs 20000 --concurrency 1,4,16,64 --runs 3)
  fi
  run results "${args[@]}" ${extra[@]+"${extra[@]}"}
  results=target/bench/results.json
fi

say "regenerating docs/performance.md and its charts"
"$bin" report --results "$results" --doc docs/performance.md
