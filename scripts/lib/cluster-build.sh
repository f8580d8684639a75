# shellcheck shell=bash
# Sourced by scripts/lib/cluster.sh: building what the cluster runs, once per version (its
# versions and paths are cluster.sh's). Kubernetes and KEDA through wrapper Go modules, etcd and
# the CNI plugins unpacked from Debian's packages, and the pause and CoreDNS images made without docker.

mkimage() { # REF ROOTFS OUT.tar [ENTRYPOINT...]: a one-layer docker-archive, made without docker
  local ref=$1 rootfs=$2 out=$3 tmp lsum csum ep; shift 3
  tmp=$(mktemp -d)
  tar --numeric-owner --owner=0 --group=0 -C "$rootfs" -cf "$tmp/layer.tar" .
  lsum=$(sha256sum "$tmp/layer.tar" | cut -d' ' -f1); mkdir "$tmp/$lsum"; mv "$tmp/layer.tar" "$tmp/$lsum/"
  ep=null; [ $# -gt 0 ] && { ep=$(printf '"%s",' "$@"); ep="[${ep%,}]"; }
  printf '{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Entrypoint":%s,"WorkingDir":"/"},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$ep" "$lsum" >"$tmp/c.json"
  csum=$(sha256sum "$tmp/c.json" | cut -d' ' -f1); mv "$tmp/c.json" "$tmp/$csum.json"
  printf '[{"Config":"%s.json","RepoTags":["%s"],"Layers":["%s/layer.tar"]}]' "$csum" "$ref" "$lsum" >"$tmp/manifest.json"
  tar -C "$tmp" -cf "$out" manifest.json "$csum.json" "$lsum"; rm -rf "$tmp"
}

build() {
  local t0; t0=$(ts)
  mkdir -p "$P/debs"
  command -v containerd >/dev/null && command -v runc >/dev/null ||
    { log "containerd and runc are missing: scripts/setup installs them"; return 1; }
  # etcd 3.4 and the CNI plugins from Debian's packages, unpacked, not installed.
  if [ ! -x "$K8S_BIN/etcd" ]; then
    mkdir -p "$K8S_BIN" "$P/cni/bin"
    ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1 || apt-get update -qq
    (cd "$P/debs" && apt-get download etcd-server containernetworking-plugins >/dev/null 2>&1 &&
     for d in *.deb; do dpkg-deb -x "$d" root; done)
    cp "$P/debs/root/usr/bin/etcd" "$K8S_BIN/"
    cp "$P"/debs/root/usr/lib/cni/{bridge,host-local,loopback,portmap} "$P/cni/bin/"
  fi
  # Kubernetes: go install refuses k8s.io/kubernetes (replace directives), so a wrapper module
  # requires it and replaces each k8s.io staging module with its tag.
  mkdir -p "$P/kbuild-$K8S_VERSION"; cd "$P/kbuild-$K8S_VERSION"
  if [ ! -f go.sum ]; then
    go mod download -json "k8s.io/kubernetes@$K8S_VERSION" >/dev/null
    local M=$GOMODCACHE/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod SV=v0.${K8S_VERSION#v1.}
    { echo "module imagerec/kbuild"; echo "go 1.24.0"; echo "godebug default=go1.24"
      echo "require k8s.io/kubernetes $K8S_VERSION"; echo "replace ("
      grep -E '=> ./staging' "$M" | sed -E "s#^\s*(k8s.io/[^ ]+) => .*#\t\1 => \1 $SV#"; echo ")"; } >go.mod
    { printf '//go:build tools\npackage tools\nimport (\n'
      for c in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl; do
        echo "_ \"k8s.io/kubernetes/cmd/$c\""; done; echo ")"; } >tools.go
    go mod tidy
  fi
  local MI=${K8S_VERSION#v1.}; MI=${MI%%.*}
  local LD="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$MI -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$MI"
  for c in kubelet kube-apiserver kube-controller-manager kube-scheduler kube-proxy kubectl; do
    go_build "$K8S_BIN" "$c" env CGO_ENABLED=0 go build -ldflags "$LD" -o "$K8S_BIN/$c" "k8s.io/kubernetes/cmd/$c"
  done
  tools
  go_build "$COREDNS_BIN" coredns env GOBIN="$COREDNS_BIN" CGO_ENABLED=0 go install -ldflags '-s -w' "github.com/coredns/coredns@$COREDNS_VERSION"
  if [ ! -x "$KEDA_BIN/keda-adapter" ]; then   # keda's go.mod has a replace directive: a wrapper module too
    mkdir -p "$P/kedabuild-$KEDA_VERSION" && cd "$P/kedabuild-$KEDA_VERSION"
    printf 'module imagerec/kedabuild\n\ngo 1.26.0\n\nrequire github.com/kedacore/keda/v2 %s\n\nreplace github.com/nexus-rpc/nexus-proto-annotations v0.1.0 => github.com/nexus-rpc/nexus-proto-annotations v0.1.1-0.20260629224316-835bd8d49cb4\n' "$KEDA_VERSION" >go.mod
    printf '//go:build tools\npackage tools\nimport (\n_ "github.com/kedacore/keda/v2/cmd/operator"\n_ "github.com/kedacore/keda/v2/cmd/adapter"\n)\n' >tools.go
    go mod tidy
    for c in operator adapter; do
      go_build "$KEDA_BIN" "keda-$c" env CGO_ENABLED=0 go build -ldflags "-s -w -X github.com/kedacore/keda/v2/version.Version=${KEDA_VERSION#v}" -o "$KEDA_BIN/keda-$c" "github.com/kedacore/keda/v2/cmd/$c"
    done
  fi
  # Images without a registry: pause from Kubernetes' own pause.c (static), and CoreDNS.
  if [ ! -f "$IMG/coredns.tar" ]; then
    local rootfs; rootfs=$(mktemp -d); mkdir -p "$IMG"
    gcc -Os -static -o "$rootfs/pause" "$GOMODCACHE/k8s.io/kubernetes@$K8S_VERSION/build/pause/linux/pause.c"
    mkimage registry.k8s.io/pause:3.10 "$rootfs" "$IMG/pause.tar" /pause
    rm -rf "$rootfs"; rootfs=$(mktemp -d); mkdir -p "$rootfs/etc" "$rootfs/tmp"; cp "$COREDNS_BIN/coredns" "$rootfs/"
    mkimage docker.io/library/coredns:local "$rootfs" "$IMG/coredns.tar" /coredns; rm -rf "$rootfs"
  fi
  log "build: $(( $(ts)-t0 ))s"
}
