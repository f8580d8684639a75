# shellcheck shell=bash
# Sourced by the scripts that use Docker (test-compose, test-k8s, check-deploy): the docker
# client, a Docker engine started here if none runs (and stopped again), and docker-compose on
# the repository's docker-compose.yml. Nothing is installed here: scripts/setup installs
# docker.io and docker-compose. The caller sources scripts/lib/common.sh first, and sets WORK
# (where dockerd's log goes) before start_engine.

# The classic builder: BuildKit would pull its frontend image, and Debian packages no buildx.
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

# Debian's client matches Debian's engine; another `docker` may come first on PATH.
docker_bin() { if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || echo docker; fi; }
DOCKER="$(docker_bin)"
docker() { "$DOCKER" "$@"; }
engine_up() { docker info >/dev/null 2>&1; }

# start_engine: a running engine, or one started here (its pid in started_dockerd); fails with
# the reason in engine_problem.
started_dockerd="" engine_problem=""
start_engine() {
  if engine_up; then say "using the running Docker engine"; return 0; fi
  command -v dockerd >/dev/null || { engine_problem="no Docker engine is installed (scripts/setup installs docker.io)"; return 1; }
  [ "$(id -u)" = 0 ] || { engine_problem="no Docker engine runs, and starting one needs root"; return 1; }
  say "starting dockerd (log: $WORK/dockerd.log)"
  setsid dockerd >"$WORK/dockerd.log" 2>&1 </dev/null &
  started_dockerd=$!
  for _ in $(seq 1 120); do engine_up && return 0; kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.5; done
  tail -5 "$WORK/dockerd.log" >&2 || true
  stop_dockerd
  engine_problem="dockerd did not start"
  return 1
}

stop_dockerd() {
  [ -n "$started_dockerd" ] || return 0
  say "stopping the Docker engine this script started (pid $started_dockerd)"
  kill -TERM "$started_dockerd" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$started_dockerd" 2>/dev/null || true
  started_dockerd=""
}

# compose ENV_FILE ARGS...: docker-compose on docker-compose.yml with that env file's variables
# only. Compose prefers the shell's variables to the env file's, and the scripts export some.
compose() {
  local env_file="$1"; shift
  env -i PATH="$PATH" HOME="$HOME" ${DOCKER_HOST:+DOCKER_HOST="$DOCKER_HOST"} \
    ${COMPOSE_PROJECT_NAME:+COMPOSE_PROJECT_NAME="$COMPOSE_PROJECT_NAME"} \
    DOCKER_BUILDKIT="$DOCKER_BUILDKIT" COMPOSE_DOCKER_CLI_BUILD="$COMPOSE_DOCKER_CLI_BUILD" \
    docker-compose --env-file "$env_file" -f "$ROOT/docker-compose.yml" "$@"
}
