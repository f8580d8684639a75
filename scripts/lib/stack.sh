# One running stack: Redis, FerretDB, API processes, workers, and nginx in front of the APIs.
# Callers set RUN_DIR; every port can be overridden from the environment.
REDIS_PORT="${REDIS_PORT:-6379}"
MONGO_PORT="${MONGO_PORT:-27017}"
API_PORTS="${API_PORTS:-3000 3001}"
NGINX_PORT="${NGINX_PORT:-8080}"
WORKERS="${WORKERS:-2}"
# Worker i serves /metrics, /healthz and /readyz on WORKER_METRICS_PORT_BASE + i - 1.
WORKER_METRICS_PORT_BASE="${WORKER_METRICS_PORT_BASE:-9400}"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export MONGODB_URL="mongodb://127.0.0.1:$MONGO_PORT/${MONGO_DB:-imagerec}"
# nginx runs on loopback in front of the APIs: its X-Forwarded-For names the real client.
export TRUST_PROXY="${TRUST_PROXY:-127.0.0.1}"

redis_ready() { [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
mongo_ready() { NODE_PATH="$ROOT/packages/shared/node_modules" node "$ROOT/scripts/lib/mongo-ping.cjs" "$MONGODB_URL"; }
api_ready() { curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null; }
worker_ready() { curl -fsS "http://127.0.0.1:$1/readyz" >/dev/null; }
nginx_ready() { curl -fsS "http://127.0.0.1:$NGINX_PORT/readyz" >/dev/null; }
worker_metrics_port() { echo $((WORKER_METRICS_PORT_BASE + $1 - 1)); }

start_redis() {
  mkdir -p "$RUN_DIR/redis"
  # BullMQ needs noeviction. The append-only file keeps accepted jobs across a Redis restart,
  # as compose's Redis does (scripts/test starts each run on an empty RUN_DIR). Each image's
  # pixels pass through it (150 KB, deleted within a second), so it is rewritten only past
  # 512 MB, not Redis's 64: a rewrite forks and re-encodes every key.
  start_process redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN_DIR/redis" \
    --save '' --appendonly yes --appendfsync everysec --auto-aof-rewrite-min-size 512mb \
    --maxmemory-policy noeviction
}

start_ferretdb() {
  mkdir -p "$RUN_DIR/ferretdb"
  start_process ferretdb ferretdb --handler=sqlite --sqlite-url="file:$RUN_DIR/ferretdb/" \
    --listen-addr="127.0.0.1:$MONGO_PORT" --state-dir="$RUN_DIR/ferretdb" \
    --debug-addr=- --telemetry=disable --log-level=warn
}

start_backing_services() {
  start_redis
  start_ferretdb
  wait_until "Redis on port $REDIS_PORT" 20 redis_ready
  wait_until "FerretDB on port $MONGO_PORT" 60 mongo_ready
}

# start_api N PORT, start_worker N: one process each (the fault tests restart them by name).
# NODE_FLAGS: extra flags for both (e.g. --cpu-prof).
start_api() {
  # The API's memory settings, read the way its image's start command reads them.
  (
    set -a && . "$ROOT/services/api/runtime.env" && set +a
    API_PORT="$2" start_process "api-$1" node ${NODE_FLAGS:-} "$ROOT/services/api/dist/server.js"
  )
}
start_worker() {
  WORKER_METRICS_PORT="$(worker_metrics_port "$1")" \
    start_process "worker-$1" node ${NODE_FLAGS:-} "$ROOT/services/worker/dist/main.js"
}

start_app_services() {
  local i=0 port
  for port in $API_PORTS; do
    i=$((i + 1))
    start_api "$i" "$port"
  done
  for i in $(seq 1 "$WORKERS"); do start_worker "$i"; done
  for port in $API_PORTS; do wait_until "API on port $port" 60 api_ready "$port"; done
  # The APIs have created the collections; index them the way FerretDB looks up by _id.
  python3 "$ROOT/scripts/lib/ferretdb-indexes.py" "$RUN_DIR/ferretdb" >>"$RUN_DIR/logs/ferretdb.log"
  for i in $(seq 1 "$WORKERS"); do
    wait_until "worker $i (model loaded, queue attached)" 120 worker_ready "$(worker_metrics_port "$i")"
  done
  # The same template as docker-compose's deploy/nginx/nginx.conf, rendered for these ports and this RUN_DIR.
  local conf="$RUN_DIR/nginx/nginx.conf"
  RUN_DIR="$RUN_DIR" NGINX_PORT="$NGINX_PORT" API_PORTS="$API_PORTS" \
    "$ROOT/scripts/lib/render-nginx.sh" local "$conf"
  start_process nginx "$(command -v nginx || echo /usr/sbin/nginx)" \
    -c "$conf" -p "$(dirname "$conf")" -e stderr
  wait_until "nginx on port $NGINX_PORT" 20 nginx_ready
}
