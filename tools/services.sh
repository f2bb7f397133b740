#!/usr/bin/env bash
# Private PostgreSQL + Redis for development ("run") and tests ("test").
#   tools/services.sh up|down|env|reset run|test     tools/services.sh chromium
# Both profiles use their own ports and data dirs, so they can run side by side.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IS_ROOT=0; [ "$(id -u)" = 0 ] && IS_ROOT=1
APT_UPDATED=0

die() { echo "services: $*" >&2; exit 1; }
# Paths inside the checkout are shown relative to it, to keep output short.
show_path() { case $1 in "$ROOT"/*) echo "${1#"$ROOT"/}" ;; *) echo "$1" ;; esac; }

set_profile() {
  case ${1:-} in
    run)  DATA=$ROOT/.data; DB=market
          PG_PORT=${MARKET_PG_PORT:-55432}; REDIS_PORT=${MARKET_REDIS_PORT:-56379}
          PORT_VARS="MARKET_PG_PORT / MARKET_REDIS_PORT"
          # Durable: commit latency and "nothing lost" are what we measure in run mode.
          # shared_buffers holds a million-product catalogue with its indexes (1.5 GB):
          # searches then read the heap from PostgreSQL's own cache, not the kernel's.
          PG_OPTS="-c max_connections=200 -c shared_buffers=2GB"
          REDIS_OPTS=(--appendonly yes --appendfsync always) ;;
    test) DATA=$ROOT/.data/test; DB=market_test
          PG_PORT=${MARKET_TEST_PG_PORT:-55442}; REDIS_PORT=${MARKET_TEST_REDIS_PORT:-56389}
          PORT_VARS="MARKET_TEST_PG_PORT / MARKET_TEST_REDIS_PORT"
          # Throw-away data: trade durability for speed. Replication on (PostgreSQL's
          # default, said here because tests depend on it): testenv.StartReplica makes
          # streaming replicas of this server, over initdb's loopback replication rule.
          PG_OPTS="-c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
          PG_OPTS+=" -c wal_level=replica -c max_wal_senders=10"
          REDIS_OPTS=(--appendonly no) ;;
    *) die "profile must be 'run' or 'test'" ;;
  esac
  REDIS_DIR=$DATA/redis; REDIS_PID=$REDIS_DIR/redis.pid
  PROFILE=$1
}

# --- installation -------------------------------------------------------------

# PostgreSQL server binaries: PATH first (Homebrew, other distros), else Debian's newest.
# PATH entries may be symlinks into the real bin dir; resolve so pg_isready/psql sit next to them.
find_pg_bin() {
  local initdb
  if initdb=$(command -v initdb) && command -v pg_ctl >/dev/null; then
    dirname "$(readlink -f "$initdb" 2>/dev/null || echo "$initdb")"; return
  fi
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1
}
# A PostgreSQL client tool: next to initdb if there, else whatever PATH has.
pgtool() { if [ -x "$PG_BIN/$1" ]; then echo "$PG_BIN/$1"; else command -v "$1" || die "$1 not found"; fi; }

apt_install() {  # apt_install PKG... ; only as root with apt-get, otherwise tell the user
  if [ "$IS_ROOT" = 1 ] && command -v apt-get >/dev/null; then
    echo "installing $* from Debian packages"
    export DEBIAN_FRONTEND=noninteractive
    # Lock timeout: another apt run (e.g. a background install) may hold the dpkg lock.
    [ "$APT_UPDATED" = 1 ] || { apt-get -o DPkg::Lock::Timeout=300 update -qq; APT_UPDATED=1; }
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@" >/dev/null
  else
    die "missing: $* — please install them (e.g. 'sudo apt-get install $*' or 'brew install postgresql redis')"
  fi
}

ensure_installed() {  # ensure_installed need_pg need_redis
  local missing=()
  PG_BIN=$(find_pg_bin)
  [ "$1" = 1 ] && [ ! -x "${PG_BIN:-/nonexistent}/initdb" ] && missing+=(postgresql)
  [ "$2" = 1 ] && ! command -v redis-server >/dev/null && missing+=(redis-server)
  [ ${#missing[@]} = 0 ] && return
  apt_install "${missing[@]}"
  PG_BIN=$(find_pg_bin)
}

# --- PostgreSQL ---------------------------------------------------------------

# From / : postgres may not be allowed into the caller's working directory (pg tools warn).
as_pg() { if [ "$IS_ROOT" = 1 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi; }

# Where the PostgreSQL directory lives. initdb refuses root, so the server runs as `postgres`,
# which must be able to enter every parent folder. A CI checkout may sit below a mode-700
# folder; then the data goes to a world-enterable temp dir, recorded in $DATA/pg.location.
pg_dir() {
  if [ -f "$DATA/pg.location" ]; then cat "$DATA/pg.location"; return; fi
  if [ "$1" = choose ] && [ "$IS_ROOT" = 1 ] && ! runuser -u postgres -- test -x "$DATA"; then
    local sum dir
    sum=$(printf %s "$ROOT" | { sha1sum 2>/dev/null || shasum; } | cut -c1-10)
    dir=${TMPDIR:-/tmp}/market-$sum-$PROFILE
    mkdir -p "$dir" && chmod 755 "$dir"
    echo "$dir/pg" > "$DATA/pg.location"
    echo "$dir/pg"; return
  fi
  echo "$DATA/pg"
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }
pg_pid() { [ -f "$1/data/postmaster.pid" ] && head -1 "$1/data/postmaster.pid" || true; }
pg_ready() { "$(pgtool pg_isready)" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres; }

pg_up() {
  if [ -n "${DATABASE_URL:-}" ]; then echo "postgres: DATABASE_URL is set, not starting a local server"; return; fi
  local dir state=started; dir=$(pg_dir choose)
  if pid_alive "$(pg_pid "$dir")" && pg_ready; then
    state=reusing
  else
    pg_ready && die "port $PG_PORT already answers, but not for $(show_path "$dir"); choose another with $PORT_VARS"
    mkdir -p "$dir"
    [ "$IS_ROOT" = 1 ] && chown postgres: "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      # C.UTF-8 where the OS has it (Debian); plain C otherwise (e.g. macOS).
      # (No grep -q: an early exit could SIGPIPE `locale` and pipefail would hide the match.)
      local loc=C; locale -a 2>/dev/null | grep -ix 'c.utf-\?8' >/dev/null && loc=C.UTF-8
      as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=$loc >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    fi
    # TCP only: no Unix socket, so long checkout paths (socket path limit) and
    # /var/run/postgresql permissions never matter.
    # glibc's malloc hands large freed blocks back to the kernel, so every
    # search that builds a bitmap of tens of thousands of rows page-faults its
    # memory in again (4,000+ faults per query here). Keeping freed memory
    # made those queries 1.3-2.5x faster (docs/PERFORMANCE.md); other libcs
    # ignore these variables.
    MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 \
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 60 -s \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -c unix_socket_directories='' $PG_OPTS" start \
      || { tail -20 "$dir/pg.log" >&2; die "postgres did not start"; }
  fi
  # Create the database if missing (quiet when it exists).
  if [ -z "$("$(pgtool psql)" -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    "$(pgtool createdb)" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB"
  fi
  echo "postgres: $state 127.0.0.1:$PG_PORT db $DB ($(show_path "$dir/data"))"
}

# --- Redis --------------------------------------------------------------------

redis_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_up() {
  if [ -n "${REDIS_URL:-}" ]; then echo "redis: REDIS_URL is set, not starting a local server"; return; fi
  local state=started i
  if pid_alive "$(cat "$REDIS_PID" 2>/dev/null)" && redis_ready; then
    state=reusing
  else
    redis_ready && die "port $REDIS_PORT already answers, but not for $(show_path "$REDIS_DIR"); choose another with $PORT_VARS"
    mkdir -p "$REDIS_DIR"
    redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --save '' "${REDIS_OPTS[@]}" \
      --dir "$REDIS_DIR" --pidfile "$REDIS_PID" --logfile "$REDIS_DIR/redis.log"
    for i in $(seq 100); do redis_ready && break; sleep 0.1; done  # ~10 s
    redis_ready || { tail -20 "$REDIS_DIR/redis.log" >&2; die "redis did not start"; }
  fi
  echo "redis: $state 127.0.0.1:$REDIS_PORT ($(show_path "$REDIS_DIR"))"
}

# --- commands -----------------------------------------------------------------

cmd_up() {
  local need_pg=1 need_redis=1
  [ -n "${DATABASE_URL:-}" ] && need_pg=0
  [ -n "${REDIS_URL:-}" ] && need_redis=0
  ensure_installed $need_pg $need_redis
  mkdir -p "$DATA"
  pg_up
  redis_up
  # One place listing what `down` has to stop.
  { local p; p=$(pg_pid "$(pg_dir find)"); [ -n "$p" ] && echo "postgres $p"
    [ -f "$REDIS_PID" ] && echo "redis $(cat "$REDIS_PID")"; true; } > "$DATA/pids"
}

# Stop by PID: only processes that still look like our servers (a stale pid file may
# name a PID that has since been reused by something else).
stop_pid() {  # stop_pid SIGNAL PID NAME-PATTERN
  local i
  pid_alive "$2" || return 0
  case $(ps -p "$2" -o comm= 2>/dev/null) in *$3*) ;; *) return 0 ;; esac
  kill -"$1" "$2" 2>/dev/null || true
  for i in $(seq 200); do pid_alive "$2" || return 0; sleep 0.1; done  # ~20 s
  die "$3 (pid $2) did not stop within 20 s"
}

cmd_down() {
  local pg rd
  pg=$(pg_pid "$(pg_dir find)")
  rd=$(cat "$REDIS_PID" 2>/dev/null || true)
  # Fall back on the recorded list in case a pid file is already gone.
  if [ -f "$DATA/pids" ]; then
    [ -n "$pg" ] || pg=$(awk '$1 == "postgres" {print $2}' "$DATA/pids")
    [ -n "$rd" ] || rd=$(awk '$1 == "redis" {print $2}' "$DATA/pids")
  fi
  stop_pid INT "$pg" postgres    # fast shutdown: ends sessions, checkpoints, exits
  stop_pid TERM "$rd" redis
  rm -f "$DATA/pids"
}

# Single-quoted so `eval` never globs or splits (URLs contain '?' and '&').
quote() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }

cmd_env() {
  echo "export DATABASE_URL=$(quote "${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/$DB?sslmode=disable}")"
  echo "export REDIS_URL=$(quote "${REDIS_URL:-redis://127.0.0.1:$REDIS_PORT/0}")"
  # Go tests create a database of their own per package on this server.
  [ "$PROFILE" = test ] && echo "export TEST_DATABASE_URL=$(quote "${DATABASE_URL:-postgres://postgres@127.0.0.1:$PG_PORT/postgres?sslmode=disable}")"
  true
}

# Empty the profile's database and Redis: the browser suite starts from a known
# shop, and `make reset` starts the run profile afresh (make run seeds it again).
cmd_reset() {
  [ -n "${DATABASE_URL:-}${REDIS_URL:-}" ] && die "reset refuses to touch servers named by DATABASE_URL / REDIS_URL"
  PG_BIN=$(find_pg_bin)
  "$(pgtool dropdb)" -h 127.0.0.1 -p "$PG_PORT" -U postgres --if-exists --force "$DB"
  "$(pgtool createdb)" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$DB"
  redis-cli -h 127.0.0.1 -p "$REDIS_PORT" flushall >/dev/null
  echo "reset: emptied $DB and the $PROFILE Redis"
}

# What the browser suite needs: Debian's Chromium (never a downloaded browser) and npm.
cmd_chromium() {
  command -v npm >/dev/null || apt_install nodejs npm
  if [ -x /usr/bin/chromium ]; then echo "chromium: /usr/bin/chromium already installed"; return; fi
  apt_install chromium
  echo "chromium: installed /usr/bin/chromium"
}

# tools/cluster.sh sources this file for its helpers; only a direct run dispatches.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    up|down|env|reset) set_profile "${2:-}"; "cmd_$1" ;;
    chromium) cmd_chromium ;;
    *) echo "usage: $0 up|down|env|reset run|test   |   $0 chromium" >&2; exit 2 ;;
  esac
fi
