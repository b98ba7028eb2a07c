#!/usr/bin/env bash
# Makes sure every store the test suite talks to is running on this machine:
# PostgreSQL :5432, MariaDB :3306, Redis :6379 and memcached :11211.
# Installs memcached from Debian's packages when it is missing. Fails loudly when a
# service cannot be started: the suite never skips a store.
set -euo pipefail

say() { printf '[services] %s\n' "$*"; }
fail() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

wait_for() { # name, check command
  local name=$1; shift
  for _ in $(seq 1 60); do
    if "$@" >/dev/null 2>&1; then say "$name is up"; return 0; fi
    sleep 0.5
  done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# PostgreSQL
if ! port_open 5432; then
  say "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  fi
fi
wait_for PostgreSQL psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' \
  || fail "PostgreSQL is not reachable at 127.0.0.1:5432 (user postgres, trust auth); start it and run again"
# Two tests at a time each start up to four worker processes with their own pools; the
# default 100 connections is too tight for that, so raise it once (needs a restart).
pg_max=$(psql -h 127.0.0.1 -U postgres -d postgres -tAc 'show max_connections')
if [ "$pg_max" -lt 300 ]; then
  say "raising PostgreSQL max_connections from $pg_max to 300 (restart)"
  psql -h 127.0.0.1 -U postgres -d postgres -qc 'alter system set max_connections = 300'
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main restart \
    || fail "could not restart PostgreSQL to raise max_connections; restart it by hand and run again"
  wait_for PostgreSQL psql -h 127.0.0.1 -U postgres -d postgres -c 'select 1' \
    || fail "PostgreSQL did not come back after raising max_connections; start it and run again"
fi

# MariaDB
if ! port_open 3306; then
  say "starting MariaDB"
  if command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ]; then
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
  fi
fi
wait_for MariaDB mysql -h 127.0.0.1 -u root -e 'select 1' test \
  || fail "MariaDB is not reachable at 127.0.0.1:3306 (user root, no password, database test); start it and run again"
# The same headroom as PostgreSQL; MariaDB takes it without a restart.
mysql -h 127.0.0.1 -u root -e 'set global max_connections = greatest(@@max_connections, 500)' \
  || fail "could not raise MariaDB's max_connections; run the tests as a user who may"

# Redis
if ! port_open 6379; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
wait_for Redis port_open 6379 || fail "Redis is not reachable at 127.0.0.1:6379; start it and run again"

# memcached
if ! command -v memcached >/dev/null; then
  say "installing memcached"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update failed; memcached cannot be installed"
  apt-get install -y -qq memcached >/dev/null || fail "apt-get install memcached failed"
fi
if ! port_open 11211; then
  say "starting memcached"
  memcached -d -u root -l 127.0.0.1 -p 11211 -m 256 -c 4096 || true
fi
wait_for memcached port_open 11211 || fail "memcached is not reachable at 127.0.0.1:11211; start it and run again"

# Chromium and its WebDriver, for the dashboard's browser tests (tests/tests/dashboard.rs).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  say "installing chromium and chromium-driver"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || fail "apt-get update failed; chromium cannot be installed"
  apt-get install -y -qq chromium chromium-driver >/dev/null \
    || fail "apt-get install chromium chromium-driver failed; the dashboard's browser tests need them"
fi
chromium --version >/dev/null 2>&1 || fail "chromium is installed but does not start; reinstall it and run again"
