# Shared by the scripts in scripts/: paths, logging, and starting/stopping processes by pid.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
TOOLS_BIN="$ROOT/.tools/bin"
PNPM_VERSION="10.24.0"
FERRETDB_VERSION="v1.24.2"
export PATH="$TOOLS_BIN:$PATH"
export ONNXRUNTIME_NODE_INSTALL=skip
# The offline mirror of the model files sits beside the checkout on these machines.
if [ -z "${MODEL_MIRROR_DIR:-}" ] && [ -d "$ROOT/../shared/models" ]; then
  MODEL_MIRROR_DIR="$(cd "$ROOT/../shared/models" && pwd)"
fi
export MODEL_MIRROR_DIR="${MODEL_MIRROR_DIR:-}"
export MODEL_DIR="${MODEL_DIR:-$ROOT/models}"

say() { printf '[%s] %s\n' "$(basename "$0")" "$*"; }
die() { say "error: $*" >&2; exit 1; }

# pid_file NAME: where NAME's pid is kept; $RUN_DIR holds one stack's pid files and logs.
pid_file() { echo "$RUN_DIR/pids/$1.pid"; }

is_running() {
  local f; f="$(pid_file "$1")"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

# start_process NAME CMD...: runs CMD detached in its own process group, logs to $RUN_DIR/logs/NAME.log.
start_process() {
  local name="$1"; shift
  mkdir -p "$RUN_DIR/pids" "$RUN_DIR/logs"
  if is_running "$name"; then
    say "$name already running (pid $(cat "$(pid_file "$name")"))"
    return 0
  fi
  setsid "$@" >>"$RUN_DIR/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$(pid_file "$name")"
  # Not a job of this shell: a process the fault tests kill is not reported as "Killed" here.
  disown $!
}

# stop_process NAME: TERM the process group, KILL it after 15 s.
stop_process() {
  local f pid i; f="$(pid_file "$1")"
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    say "stopped $1"
  fi
  rm -f "$f"
}

stop_all() {
  local f
  [ -d "$RUN_DIR/pids" ] || return 0
  # Front to back, so nothing is left half-connected to a stopped backend.
  for name in nginx api-1 api-2 $(cd "$RUN_DIR/pids" && ls 2>/dev/null | sed -n 's/^\(worker-[0-9]*\)\.pid$/\1/p') ferretdb redis; do
    stop_process "$name"
  done
  for f in "$RUN_DIR"/pids/*.pid; do [ -e "$f" ] && stop_process "$(basename "$f" .pid)"; done
  return 0
}

# wait_until DESC TIMEOUT_S CMD...: polls CMD until it succeeds.
wait_until() {
  local desc="$1" timeout="$2" i; shift 2
  for i in $(seq 1 $((timeout * 5))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  die "$desc did not come up within ${timeout}s (logs in $RUN_DIR/logs)"
}
