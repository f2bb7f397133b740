#!/usr/bin/env bash
# The same shop on several servers, on one machine (README, "The same shop on several servers"):
#   tools/cluster.sh up|down|status|env|reset
# up starts, from Debian's packages (installed when missing):
#   - a Redis Cluster of 3 primaries + 3 replicas, AOF appendfsync always;
#   - a PostgreSQL primary and a streaming replica made with pg_basebackup (hot standby);
#   - two app instances (bin/market serve) on the primary, the replica and the Redis Cluster;
#   - HAProxy in front, health-checking /readyz, on http://localhost:$CLUSTER_PORT.
# Data lives under .data/cluster/; a second `up` reuses it. `down` stops everything by PID.
set -euo pipefail

# shellcheck source=tools/services.sh
source "$(dirname "${BASH_SOURCE[0]}")/services.sh"
die() { echo "cluster: $*" >&2; exit 1; }

DATA=$ROOT/.data/cluster
PROFILE=cluster
LB_PORT=${CLUSTER_PORT:-8080}
APP_PORT=${CLUSTER_APP_PORT:-8081}        # instances on APP_PORT and APP_PORT+1
METRICS_PORT=${CLUSTER_METRICS_PORT:-9091} # and their /metrics on these
PG_PRIMARY_PORT=${CLUSTER_PG_PORT:-55452}  # the replica on the next port
PG_REPLICA_PORT=$((PG_PRIMARY_PORT + 1))
REDIS_BASE=${CLUSTER_REDIS_PORT:-7001}     # six nodes from here; a node's bus is port+10000
DB=market
REDIS_PORTS=()
for i in 0 1 2 3 4 5; do REDIS_PORTS+=($((REDIS_BASE + i))); done
[ "$((REDIS_BASE + 5))" -le 55535 ] || die "CLUSTER_REDIS_PORT must leave room for 6 nodes below 55536 (Redis adds 10000 for the cluster bus)"

primary_url() { echo "postgres://postgres@127.0.0.1:$PG_PRIMARY_PORT/$DB?sslmode=disable"; }
replica_url() { echo "postgres://postgres@127.0.0.1:$PG_REPLICA_PORT/$DB?sslmode=disable"; }
redis_addrs() { local p out=(); for p in "${REDIS_PORTS[@]}"; do out+=("127.0.0.1:$p"); done; (IFS=,; echo "${out[*]}"); }

# --- Redis Cluster ------------------------------------------------------------

node_ready() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
cluster_ok() { redis-cli -h 127.0.0.1 -p "${REDIS_PORTS[0]}" cluster info 2>/dev/null | grep -q '^cluster_state:ok'; }

redis_node_up() {  # redis_node_up PORT
  local port=$1 dir=$DATA/redis/$1 i
  if pid_alive "$(cat "$dir/redis.pid" 2>/dev/null)" && node_ready "$port"; then return; fi
  node_ready "$port" && die "port $port already answers, but not for $(show_path "$dir"); choose other ports with CLUSTER_REDIS_PORT"
  mkdir -p "$dir"
  # cluster-node-timeout 5 s: a dead primary is replaced by its replica about 5-7 s later.
  redis-server --bind 127.0.0.1 --port "$port" --daemonize yes --save '' \
    --appendonly yes --appendfsync always --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 5000
  for i in $(seq 100); do node_ready "$port" && return; sleep 0.1; done
  tail -20 "$dir/redis.log" >&2; die "redis node $port did not start"
}

redis_cluster_up() {
  local p i
  for p in "${REDIS_PORTS[@]}"; do redis_node_up "$p"; done
  if [ "$(redis-cli -h 127.0.0.1 -p "${REDIS_PORTS[0]}" cluster info | awk -F: '/^cluster_known_nodes/ {print $2+0}')" = 1 ]; then
    # New nodes: join them, a replica for each primary.
    local addrs=(); for p in "${REDIS_PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
    redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes >"$DATA/redis/create.log" 2>&1 \
      || { cat "$DATA/redis/create.log" >&2; die "redis-cli --cluster create failed"; }
  fi
  for i in $(seq 300); do cluster_ok && break; sleep 0.1; done  # ~30 s: nodes.conf brings the old cluster back
  cluster_ok || die "the Redis Cluster is not ok after 30 s (see $(show_path "$DATA/redis")/*/redis.log); to start afresh: tools/cluster.sh reset"
  echo "redis cluster: 3 primaries + 3 replicas on 127.0.0.1:${REDIS_PORTS[0]}-${REDIS_PORTS[5]} (AOF always)"
}

# --- PostgreSQL primary and replica -------------------------------------------

pg_port_ready() { "$(pgtool pg_isready)" -q -h 127.0.0.1 -p "$1" -U postgres -d postgres; }

pg_start() {  # pg_start DIR PORT EXTRA-OPTS
  local dir=$1 port=$2
  if pid_alive "$(pg_pid "$dir")" && pg_port_ready "$port"; then return; fi
  pg_port_ready "$port" && die "port $port already answers, but not for $(show_path "$dir"); choose other ports with CLUSTER_PG_PORT"
  # Durable settings and the cache of `make run` (a million-product catalogue with its indexes
  # fits in 2 GB), on both servers: the replica serves reads too.
  as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" -w -t 120 -s \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories='' -c max_connections=300 -c shared_buffers=2GB $3" start \
    || { tail -20 "$dir/pg.log" >&2; die "postgres on $port did not start (log: $dir/pg.log)"; }
}

pg_pair_up() {
  local base loc=C
  base=$(pg_dir choose)
  mkdir -p "$base/primary" "$base/replica"
  [ "$IS_ROOT" = 1 ] && chown postgres: "$base" "$base/primary" "$base/replica"
  chmod 700 "$base/primary" "$base/replica"
  if [ ! -f "$base/primary/data/PG_VERSION" ]; then
    locale -a 2>/dev/null | grep -ix 'c.utf-\?8' >/dev/null && loc=C.UTF-8
    as_pg "$PG_BIN/initdb" -D "$base/primary/data" -U postgres -A trust -E UTF8 --locale=$loc >"$base/primary/initdb.log" 2>&1 \
      || { cat "$base/primary/initdb.log" >&2; die "initdb failed"; }
  fi
  pg_start "$base/primary" "$PG_PRIMARY_PORT" "-c wal_level=replica -c max_wal_senders=5"
  local psql; psql=$(pgtool psql)
  if [ -z "$("$psql" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" ]; then
    "$(pgtool createdb)" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres "$DB"
  fi
  if [ ! -f "$base/replica/data/PG_VERSION" ]; then
    # A slot keeps the WAL the replica still needs, also while it is stopped.
    "$psql" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres -d postgres -qtAc \
      "SELECT pg_drop_replication_slot('market_replica') FROM pg_replication_slots WHERE slot_name = 'market_replica'" >/dev/null
    rm -rf "${base:?}/replica/data"
    as_pg "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "$PG_PRIMARY_PORT" -U postgres -D "$base/replica/data" \
      -R -X stream -C -S market_replica >"$base/replica/basebackup.log" 2>&1 \
      || { cat "$base/replica/basebackup.log" >&2; rm -rf "${base:?}/replica/data"; die "pg_basebackup failed"; }
  fi
  pg_start "$base/replica" "$PG_REPLICA_PORT" "-c hot_standby=on"
  local state
  state=$("$psql" -h 127.0.0.1 -p "$PG_REPLICA_PORT" -U postgres -d postgres -tAc "SELECT pg_is_in_recovery()")
  [ "$state" = t ] || die "the replica on $PG_REPLICA_PORT is not in recovery (promoted?); to start afresh: tools/cluster.sh reset"
  echo "postgres: primary 127.0.0.1:$PG_PRIMARY_PORT, streaming replica 127.0.0.1:$PG_REPLICA_PORT ($(show_path "$base"))"
}

# --- app instances and the load balancer --------------------------------------

app_env() {  # app_env N: the environment of instance N (1 or 2)
  echo "DATABASE_URL=$(primary_url)"
  echo "DATABASE_READ_URL=$(replica_url)"
  echo "REDIS_CLUSTER_ADDRS=$(redis_addrs)"
  echo "ADDR=127.0.0.1:$((APP_PORT + $1 - 1))"
  echo "METRICS_ADDR=127.0.0.1:$((METRICS_PORT + $1 - 1))"
  echo "INSTANCE_NAME=app$1"
}

app_ready() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/readyz" 2>/dev/null; }

# Instances are restarted on every `up`, so that they run the binary just built.
app_up() {  # app_up N
  local n=$1 dir=$DATA/app$1 port=$((APP_PORT + $1 - 1)) i
  mkdir -p "$dir"
  stop_pid TERM "$(cat "$dir/pid" 2>/dev/null || true)" market
  app_ready "$port" && die "port $port already answers, but not for app$n; choose other ports with CLUSTER_APP_PORT"
  # setsid: the instance outlives this script and the terminal's Ctrl-C.
  (mapfile -t vars < <(app_env "$n"); exec env "${vars[@]}" setsid "$ROOT/bin/market" serve </dev/null >>"$dir/app.log" 2>&1) &
  echo $! > "$dir/pid"
  for i in $(seq 300); do app_ready "$port" && return; pid_alive "$(cat "$dir/pid")" || break; sleep 0.1; done
  tail -20 "$dir/app.log" >&2; die "app$n did not become ready on $port (log: $(show_path "$dir/app.log"))"
}

haproxy_up() {
  local dir=$DATA/haproxy
  mkdir -p "$dir"
  command -v haproxy >/dev/null || apt_install haproxy
  cat >"$dir/haproxy.cfg" <<EOF
# Written by tools/cluster.sh on every start; edits are lost.
global
  # Two file descriptors per connection must fit the process limit (often 20,000 here).
  maxconn 8000
defaults
  mode http
  option forwardfor
  # A request an instance refused (it just died) goes to the other one at once.
  retries 2
  option redispatch 1
  timeout connect 2s
  timeout client 60s
  # Live counts (server-sent events) are answered slowly on purpose: a ping
  # comes every few seconds, well inside this; HAProxy passes them unbuffered.
  timeout server 60s
  timeout http-keep-alive 10s
frontend shop
  bind 127.0.0.1:$LB_PORT
  default_backend instances
backend instances
  balance roundrobin
  # Health: /readyz every second, out after two failures, back after two successes.
  option httpchk GET /readyz
  http-check expect status 200
  default-server inter 1s fall 2 rise 2
  server app1 127.0.0.1:$APP_PORT check
  server app2 127.0.0.1:$((APP_PORT + 1)) check
EOF
  haproxy -c -q -f "$dir/haproxy.cfg" || die "haproxy.cfg is not valid"
  stop_pid TERM "$(cat "$dir/haproxy.pid" 2>/dev/null || true)" haproxy
  curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$LB_PORT/" && die "port $LB_PORT is taken (make run?); choose another with CLUSTER_PORT"
  haproxy -D -f "$dir/haproxy.cfg" -p "$dir/haproxy.pid" || die "haproxy did not start"
}

# --- commands -----------------------------------------------------------------

cmd_up() {
  [ -x "$ROOT/bin/market" ] || die "bin/market is missing: run make cluster (it builds first)"
  ensure_installed 1 1
  command -v curl >/dev/null || apt_install curl
  mkdir -p "$DATA/redis"
  redis_cluster_up
  pg_pair_up
  (mapfile -t vars < <(app_env 1); env "${vars[@]}" "$ROOT/bin/market" seed -if-empty) || die "seed failed"
  app_up 1
  app_up 2
  haproxy_up
  echo
  echo "Opener Market on several servers: http://localhost:$LB_PORT  (HAProxy, round robin over two instances)"
  echo "  app1 http://127.0.0.1:$APP_PORT   app2 http://127.0.0.1:$((APP_PORT + 1))   metrics :$METRICS_PORT :$((METRICS_PORT + 1))"
  echo "  see the balancing: for i in 1 2 3 4; do curl -s localhost:$LB_PORT/readyz; done"
  echo "  logs under $(show_path "$DATA")/; make stop stops it all"
}

cmd_down() {
  local p
  [ -d "$DATA" ] || return 0
  stop_pid TERM "$(cat "$DATA/haproxy/haproxy.pid" 2>/dev/null || true)" haproxy
  # SIGTERM: each instance finishes its requests and drains its coupon flusher.
  for p in 1 2; do stop_pid TERM "$(cat "$DATA/app$p/pid" 2>/dev/null || true)" market; done
  local base; base=$(pg_dir find)
  stop_pid INT "$(pg_pid "$base/replica")" postgres
  stop_pid INT "$(pg_pid "$base/primary")" postgres
  for p in "${REDIS_PORTS[@]}"; do stop_pid TERM "$(cat "$DATA/redis/$p/redis.pid" 2>/dev/null || true)" redis; done
  echo "cluster: stopped"
}

cmd_status() {
  local p
  for p in "${REDIS_PORTS[@]}"; do
    printf 'redis %s: %s\n' "$p" "$(redis-cli -h 127.0.0.1 -p "$p" role 2>/dev/null | head -1 || echo down)"
  done
  for p in "$PG_PRIMARY_PORT" "$PG_REPLICA_PORT"; do
    printf 'postgres %s: %s\n' "$p" "$(pg_port_ready "$p" && echo up || echo down)"
  done
  for p in "$APP_PORT" "$((APP_PORT + 1))" "$LB_PORT"; do
    printf 'http %s: %s\n' "$p" "$(curl -s --max-time 2 "http://127.0.0.1:$p/readyz" || echo down)"
  done
}

# The environment of bin/market against the cluster (benches, seed, reconcile).
cmd_env() {
  echo "export DATABASE_URL=$(quote "$(primary_url)")"
  echo "export DATABASE_READ_URL=$(quote "$(replica_url)")"
  echo "export REDIS_CLUSTER_ADDRS=$(quote "$(redis_addrs)")"
  echo "unset REDIS_URL"
}

cmd_reset() {
  cmd_down
  local base; base=$(pg_dir find)
  rm -rf "${base:?}" "${DATA:?}"
  echo "cluster: data removed; the next make cluster starts afresh"
}

PG_BIN=$(find_pg_bin || true)  # empty before PostgreSQL is installed (up installs it)
case ${1:-} in
  up|down|status|env|reset) "cmd_$1" ;;
  *) echo "usage: $0 up|down|status|env|reset" >&2; exit 2 ;;
esac
