#!/usr/bin/env bash
# Benchmarks rakit-job on every store and regenerates docs/performance.md with its charts.
#
#   scripts/bench.sh                 rakit-job alone: 20,000 jobs, concurrency 1,4,16,64, 3 rounds
#   scripts/bench.sh --peers         the same, alternating with apalis and riverqueue, store by
#                                    store as docs/performance.md describes (builds benches/peers,
#                                    a separate workspace, on first use: slow; about 45 minutes)
#   scripts/bench.sh --quick         2,000 jobs, concurrency 1,16, one round: a smoke run
#   scripts/bench.sh --scale         worker hosts in network namespaces (1, 2, 4, 8) draining
#                                    50,000 jobs from PostgreSQL, Redis and a three-node Redis
#                                    Cluster through a relay adding 0.5 ms each way; rewrites
#                                    docs/scaling.md (needs root; about 10 minutes)
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
scale=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --peers) peers=1 ;;
    --quick) quick=1 ;;
    --scale) scale=1 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
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

if [ "$scale" = 1 ]; then
  # One network namespace per worker host, joined to this machine by a veth pair: host k is
  # 10.231.k.2 and reaches the relay at 10.231.0.1 (an address on lo) through 10.231.k.1.
  # The cluster's nodes listen on 7101-7103 and announce the relay's ports 7001-7003.
  [ "$(id -u)" = 0 ] || { echo "bench.sh --scale makes network namespaces: run it as root" >&2; exit 1; }
  scale_dir="$PWD/target/bench/scale"
  relay_ip=10.231.0.1
  scale_down() {
    for k in 1 2 3 4 5 6 7 8; do
      ip netns del "rkb-h$k" 2>/dev/null || true
      ip link del "rkb-h$k-a" 2>/dev/null || true
    done
    ip addr del "$relay_ip/32" dev lo 2>/dev/null || true
    for port in 7101 7102 7103; do
      if [ -f "$scale_dir/$port.pid" ]; then
        kill "$(cat "$scale_dir/$port.pid")" 2>/dev/null || true
        rm -f "$scale_dir/$port.pid"
      fi
    done
  }
  trap scale_down EXIT
  trap 'exit 130' INT TERM
  scale_down
  say "making 8 worker hosts (network namespaces rkb-h1..rkb-h8)"
  ip addr add "$relay_ip/32" dev lo
  for k in 1 2 3 4 5 6 7 8; do
    ip netns add "rkb-h$k"
    ip link add "rkb-h$k-a" type veth peer name "rkb-h$k-b"
    ip link set "rkb-h$k-b" netns "rkb-h$k"
    ip addr add "10.231.$k.1/24" dev "rkb-h$k-a"
    ip link set "rkb-h$k-a" up
    ip -n "rkb-h$k" addr add "10.231.$k.2/24" dev "rkb-h$k-b"
    ip -n "rkb-h$k" link set "rkb-h$k-b" up
    ip -n "rkb-h$k" link set lo up
    ip -n "rkb-h$k" route add default via "10.231.$k.1"
  done
  say "starting a three-node Redis Cluster on ports 7101-7103"
  for port in 7101 7102 7103; do
    rm -rf "${scale_dir:?}/$port"
    mkdir -p "$scale_dir/$port"
    redis-server --port "$port" --bind 127.0.0.1 "$relay_ip" --protected-mode no \
      --cluster-enabled yes --cluster-config-file nodes.conf --dir "$scale_dir/$port" \
      --cluster-announce-ip "$relay_ip" --cluster-announce-port $((port - 100)) \
      --cluster-announce-bus-port $((port + 10000)) --save "" --appendonly no \
      --daemonize yes --pidfile "$scale_dir/$port.pid" --logfile "$scale_dir/$port.log"
  done
  for port in 7101 7102 7103; do
    for _ in $(seq 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
    redis-cli -p "$port" ping >/dev/null || { echo "the cluster node on port $port did not start; see $scale_dir/$port.log" >&2; exit 1; }
  done
  say "running: $bin scale --doc docs/scaling.md ${extra[*]-}"
  timeout --signal=INT "${BENCH_TIMEOUT:-10800}" "$bin" scale --ip "$relay_ip" --netns rkb-h \
    --doc docs/scaling.md ${extra[@]+"${extra[@]}"}
  exit 0
fi

if [ "$peers" = 1 ] && [ "$quick" = 0 ] && [ ${#extra[@]} -eq 0 ]; then
  # The comparison docs/performance.md shows, store by store. Each phase gets a limit the
  # systems can meet where they can (riverqueue dispatches, then drains, 20,000 jobs one at a
  # time in about 130 s), and a system that never can (apalis-sqlite) runs one round only,
  # so the whole comparison takes about 45 minutes instead of hours of abandoned phases.
  full=(--jobs 20000 --concurrency 1,4,16,64)
  run postgres "${full[@]}" --stores postgres --runs 3 --phase-timeout 150
  # PostgreSQL also at 1,000 jobs at a time, where riverqueue is at its best; the table
  # has no column for it, so its figures are printed on their own below.
  run postgres-1000 --jobs 20000 --concurrency 1000 --stores postgres --runs 3 \
    --phase-timeout 150 --no-bounds
  run sqlite "${full[@]}" --stores sqlite --systems rakit-job,riverqueue --runs 3 --phase-timeout 90
  run sqlite-apalis "${full[@]}" --stores sqlite --systems apalis --runs 1 --phase-timeout 60 --no-bounds
  run redis "${full[@]}" --stores redis --systems rakit-job --runs 3 --phase-timeout 90
  run others "${full[@]}" --stores mysql,file,memcached --runs 1 --phase-timeout 150
  # apalis-redis cannot drain 20,000 jobs (docs/performance.md): Redis is compared at 5,000.
  run redis-5000 --jobs 5000 --concurrency 1,4,16,64 --stores redis --systems rakit-job,apalis \
    --runs 3 --phase-timeout 90 --no-bounds
  say "Redis with apalis at N = 5,000 (the page's table is N = 20,000; quote these in its text):"
  "$bin" report --results target/bench/redis-5000.json
  say "PostgreSQL at concurrency 1,000 (quote these in the page's text):"
  "$bin" report --results target/bench/postgres-1000.json
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
