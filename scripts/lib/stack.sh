# One running stack: Redis, FerretDB, API processes, workers (and nginx once configured).
# Callers set RUN_DIR; every port can be overridden from the environment.
REDIS_PORT="${REDIS_PORT:-6379}"
MONGO_PORT="${MONGO_PORT:-27017}"
API_PORTS="${API_PORTS:-3000 3001}"
NGINX_PORT="${NGINX_PORT:-8080}"
WORKERS="${WORKERS:-2}"
export REDIS_URL="redis://127.0.0.1:$REDIS_PORT"
export MONGODB_URL="mongodb://127.0.0.1:$MONGO_PORT/${MONGO_DB:-imagerec}"

redis_ready() { [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
mongo_ready() { NODE_PATH="$ROOT/packages/shared/node_modules" node "$ROOT/scripts/lib/mongo-ping.cjs" "$MONGODB_URL"; }
api_ready() { curl -fsS "http://127.0.0.1:$1/health" >/dev/null; }

start_backing_services() {
  mkdir -p "$RUN_DIR/redis" "$RUN_DIR/ferretdb"
  # BullMQ needs noeviction; tests need no persistence.
  start_process redis redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$RUN_DIR/redis" \
    --save '' --appendonly no --maxmemory-policy noeviction
  start_process ferretdb ferretdb --handler=sqlite --sqlite-url="file:$RUN_DIR/ferretdb/" \
    --listen-addr="127.0.0.1:$MONGO_PORT" --state-dir="$RUN_DIR/ferretdb" \
    --debug-addr=- --telemetry=disable --log-level=warn
  wait_until "Redis on port $REDIS_PORT" 20 redis_ready
  wait_until "FerretDB on port $MONGO_PORT" 60 mongo_ready
}

start_app_services() {
  local i=0 port
  for port in $API_PORTS; do
    i=$((i + 1))
    API_PORT="$port" start_process "api-$i" node "$ROOT/services/api/dist/server.js"
  done
  for i in $(seq 1 "$WORKERS"); do
    start_process "worker-$i" node "$ROOT/services/worker/dist/main.js"
  done
  for port in $API_PORTS; do wait_until "API on port $port" 60 api_ready "$port"; done
}
