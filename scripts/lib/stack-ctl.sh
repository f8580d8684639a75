#!/usr/bin/env bash
# stack-ctl.sh start|stop|kill|pause|resume NAME: one process of a running stack, for the
# fault tests. NAME: redis, ferretdb, api-N, worker-N (nginx is never touched). Uses the same
# RUN_DIR and ports as the scripts that started the stack (scripts/test exports them).
set -euo pipefail
source "$(dirname "$0")/common.sh"
: "${RUN_DIR:?}"
source "$ROOT/scripts/lib/stack.sh"
action="${1:?usage: stack-ctl.sh start|stop|kill|pause|resume NAME}"
name="${2:?usage: stack-ctl.sh start|stop|kill|pause|resume NAME}"
pid() { cat "$(pid_file "$name")"; }

case "$action" in
  start)
    case "$name" in
      redis) start_redis; wait_until "Redis" 20 redis_ready ;;
      ferretdb) start_ferretdb; wait_until "FerretDB" 60 mongo_ready ;;
      api-*)
        n="${name#api-}"; port="$(echo $API_PORTS | cut -d' ' -f"$n")"
        start_api "$n" "$port"; wait_until "API on port $port" 60 api_ready "$port" ;;
      worker-*) start_worker "${name#worker-}" ;;
      *) die "unknown process $name" ;;
    esac ;;
  stop) stop_process "$name" ;;
  kill) kill -KILL -- "-$(pid)" 2>/dev/null || kill -KILL "$(pid)"; rm -f "$(pid_file "$name")" ;;
  pause) kill -STOP "$(pid)" ;;
  resume) kill -CONT "$(pid)" ;;
  *) die "unknown action $action" ;;
esac
