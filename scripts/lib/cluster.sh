#!/usr/bin/env bash
# cluster.sh: a real single-node Kubernetes cluster on this machine, offline and without an image
# registry, for scripts/test-k8s. Adapted from ../shared/k8s-probe (see its README for the facts
# behind each step). Kubernetes from the Go module proxy, etcd and CNI plugins from Debian
# packages (unpacked, not installed), Debian's containerd and runc, CoreDNS, KEDA's operator and
# metrics adapter as processes beside the control plane; helm and kubeconform from chart-tools.sh.
#   cluster.sh build     # chart-tools.sh's tools, then every binary and image the cluster needs; skipped where built
#   cluster.sh up        # control plane, containerd, kubelet, kube-proxy, CoreDNS, KEDA; waits for Ready
#   cluster.sh down      # stops every process by pid, unmounts, removes cgroups and the netns
#   cluster.sh wipe      # down, then the cluster's state (etcd, pki), not the binaries
#   cluster.sh k ARGS    # kubectl;   cluster.sh x CMD  # CMD inside the cluster's network namespace
# Binaries live under $K8S_CACHE (default ~/.cache/imagerec-k8s), one folder per tool and
# version, so a CI run on a warm machine reuses them and a version bump builds anew. The cluster
# runs in its own network namespace whose only link is a veth to nowhere (node IP 10.250.0.2):
# no packet leaves the machine, the host's ports and iptables are untouched.
# Needs: root, Debian 12, go >= 1.26 (KEDA 2.21), gcc, containerd + runc (Debian, from
# scripts/setup), iptables, openssl, util-linux, python3-venv.
set -euo pipefail
# P, the Kubernetes, helm, kubeconform and KEDA versions, their paths, ts, log and go_build.
source "$(dirname "${BASH_SOURCE[0]}")/chart-tools.sh"
COREDNS_VERSION=v1.14.7
NODE=imagerec-node NODE_IP=10.250.0.2 POD_CIDR=10.244.0.0/16 SVC_CIDR=10.96.0.0/16 DNS_IP=10.96.0.10
K8S_BIN=$P/versions/k8s-$K8S_VERSION COREDNS_BIN=$P/versions/coredns-$COREDNS_VERSION
KEDA_BIN=$P/versions/keda-$KEDA_VERSION IMG=$P/versions/images-$K8S_VERSION-coredns-$COREDNS_VERSION
STATE=$P/state RUN=$P/run PKI=$P/pki LOG=$P/logs ETC=$P/etc
NS=$RUN/netns CTR="ctr -a $RUN/containerd.sock -n k8s.io"
# build (and mkimage); coredns_up and keda_up, which up calls once the node is Ready.
source "$(dirname "${BASH_SOURCE[0]}")/cluster-build.sh"
source "$(dirname "${BASH_SOURCE[0]}")/cluster-addons.sh"
export PATH=$K8S_BIN:$HELM_BIN:$KUBECONFORM_BIN:$KEDA_BIN:$PATH
x() { nsenter --net="$NS" "$@"; }
k() { x env KUBECONFIG="$PKI/admin.kubeconfig" "$K8S_BIN/kubectl" "$@"; }
# wait_for WHAT SECONDS CMD...: until CMD succeeds; fails naming WHAT (and the logs) after SECONDS.
wait_for() {
  local what=$1 limit=$2 t0; t0=$(ts); shift 2
  until "$@" >/dev/null 2>&1; do
    [ $(( $(ts)-t0 )) -lt "$limit" ] || { log "$what: not within ${limit}s (logs: $LOG)"; return 1; }
    sleep 1
  done
}
start() { # NAME CMD...: inside the netns, in a session of its own (a caller's timeout won't kill it)
  local n=$1; shift
  nohup setsid nsenter --net="$NS" "$@" >"$LOG/$n.log" 2>&1 &
  echo $! >"$RUN/$n.pid"
}

pki() ( # CA, component certs (CN/O give RBAC identities), SA keys, front-proxy, KEDA certs, kubeconfigs
  mkdir -p "$PKI"; cd "$PKI"; [ -f ca.crt ] && exit 0
  ca() { openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.crt" -days 3650 -subj "/CN=$2" \
           -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign,digitalSignature 2>/dev/null; }
  cert() { # name subj ca [sans]
    openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
    { echo basicConstraints=CA:FALSE; echo keyUsage=critical,digitalSignature,keyEncipherment
      echo extendedKeyUsage=serverAuth,clientAuth; [ -n "${4:-}" ] && echo "subjectAltName=$4"; } >"$1.ext"
    openssl x509 -req -in "$1.csr" -CA "$3.crt" -CAkey "$3.key" -CAcreateserial -days 3650 -out "$1.crt" -extfile "$1.ext" 2>/dev/null
    rm -f "$1.csr" "$1.ext"; }
  ca ca kubernetes-ca; ca front-proxy-ca front-proxy-ca
  cert apiserver /CN=kube-apiserver ca "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:10.96.0.1,IP:$NODE_IP,IP:127.0.0.1"
  cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client ca
  cert admin /O=system:masters/CN=kubernetes-admin ca
  cert kubelet /O=system:nodes/CN=system:node:$NODE ca
  cert controller-manager /CN=system:kube-controller-manager ca
  cert scheduler /CN=system:kube-scheduler ca
  cert kube-proxy /CN=system:kube-proxy ca
  cert front-proxy-client /CN=front-proxy-client front-proxy-ca
  mkdir -p keda; ca keda/ca KEDA   # KEDA wants ca.crt/tls.crt/tls.key in --cert-dir
  cert keda/tls /CN=keda-operator keda/ca "DNS:localhost,DNS:keda-operator.keda.svc,DNS:keda-metrics-apiserver.keda.svc,IP:127.0.0.1,IP:$NODE_IP"
  openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  for n in admin kubelet controller-manager scheduler kube-proxy; do cat >"$n.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: imagerec, cluster: {server: "https://$NODE_IP:6443", certificate-authority-data: $(base64 -w0 ca.crt)}}]
users: [{name: $n, user: {client-certificate-data: $(base64 -w0 "$n.crt"), client-key-data: $(base64 -w0 "$n.key")}}]
contexts: [{name: imagerec, context: {cluster: imagerec, user: $n}}]
current-context: imagerec
EOF
  done
)

configs() {
  mkdir -p "$ETC/cni/net.d" "$STATE" "$RUN" "$LOG"
  cat >"$ETC/containerd.toml" <<EOF
version = 2
root = "$STATE/containerd"
state = "$RUN/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$RUN/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd-opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true   # without CAP_SYS_RESOURCE runc cannot set oom_score_adj < 0
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "$P/cni/bin"
    conf_dir = "$ETC/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$RUN/runc"
EOF
  cat >"$ETC/cni/net.d/10-bridge.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "imagerec", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$STATE/cni-ipam", "ranges": [[{"subnet": "10.244.0.0/24"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
  cat >"$ETC/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication: {anonymous: {enabled: false}, webhook: {enabled: true}, x509: {clientCAFile: $PKI/ca.crt}}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://$RUN/containerd.sock
clusterDomain: cluster.local
clusterDNS: [$DNS_IP]
failSwapOn: false
podLogsDir: $STATE/pod-logs
resolvConf: $ETC/resolv.conf
evictionHard: {memory.available: 100Mi, nodefs.available: 2%, imagefs.available: 2%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
  echo "nameserver $DNS_IP" >"$ETC/resolv.conf"
  # KEDA runs beside the control plane but asks Services by name: CoreDNS is its resolver.
  printf 'nameserver %s\nsearch svc.cluster.local cluster.local\noptions ndots:5\n' "$DNS_IP" >"$ETC/keda-resolv.conf"
  cat >"$ETC/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
conntrack: {maxPerCore: 0}
metricsBindAddress: 127.0.0.1:10249
EOF
}

up() {
  local t0; t0=$(ts)
  mkdir -p "$STATE" "$RUN" "$LOG"; pki; configs
  if ! mountpoint -q "$NS" 2>/dev/null; then   # netns: lo + a veth whose peer swallows everything
    touch "$NS"; unshare --net="$NS" true
    x ip link set lo up
    x ip link add k8s0 type veth peer name k8s0-sink; x ip link set k8s0-sink up
    x ip addr add "$NODE_IP/24" dev k8s0; x ip link set k8s0 up; x ip route add default dev k8s0
    x sysctl -qw net.ipv4.ip_forward=1 net.bridge.bridge-nf-call-iptables=1 net.ipv4.conf.all.route_localnet=1
  fi
  start etcd "$K8S_BIN/etcd" --name imagerec --data-dir "$STATE/etcd" --unsafe-no-fsync \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster imagerec=http://127.0.0.1:2380
  start kube-apiserver "$K8S_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --advertise-address=$NODE_IP --kubelet-preferred-address-types=InternalIP --secure-port=6443 \
    --service-cluster-ip-range=$SVC_CIDR --allow-privileged=true \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- --enable-aggregator-routing=true \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key"
  wait_for "apiserver ready" 120 k get --raw=/readyz
  log "apiserver ready: $(( $(ts)-t0 ))s"
  start kube-controller-manager "$K8S_BIN/kube-controller-manager" --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false --use-service-account-credentials=true \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" --root-ca-file="$PKI/ca.crt" \
    --service-account-private-key-file="$PKI/sa.key" --allocate-node-cidrs=true --cluster-cidr=$POD_CIDR \
    --node-cidr-mask-size=24 --service-cluster-ip-range=$SVC_CIDR
  start kube-scheduler "$K8S_BIN/kube-scheduler" --kubeconfig="$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig="$PKI/scheduler.kubeconfig" --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --leader-elect=false
  rm -rf "$STATE/cni-ipam"   # no sandbox survives a restart: drop stale IP reservations
  start containerd /usr/bin/containerd --config "$ETC/containerd.toml"
  wait_for "containerd up" 60 x $CTR version
  for i in "$IMG"/*.tar; do x $CTR images import "$i" >/dev/null; done
  start kubelet "$K8S_BIN/kubelet" --config="$ETC/kubelet.yaml" --kubeconfig="$PKI/kubelet.kubeconfig" \
    --root-dir="$STATE/kubelet" --cert-dir="$STATE/kubelet-pki" --hostname-override=$NODE --node-ip=$NODE_IP
  start kube-proxy "$K8S_BIN/kube-proxy" --config="$ETC/kube-proxy.yaml" --hostname-override=$NODE
  wait_for "node Ready" 120 k wait --for=condition=Ready node/$NODE --timeout=5s
  log "node Ready: $(( $(ts)-t0 ))s"
  coredns_up; k -n kube-system rollout status deploy/coredns --timeout=120s >/dev/null
  log "CoreDNS ready: $(( $(ts)-t0 ))s"
  keda_up
  log "KEDA serving external metrics: $(( $(ts)-t0 ))s"
}

# load_image ARCHIVE|-: a docker-archive (docker save) into the cluster's containerd.
load_image() { x $CTR images import "$1" >/dev/null; }

down() {
  local n t p
  for n in keda-adapter keda-operator kube-proxy kubelet; do
    [ -f "$RUN/$n.pid" ] && kill "$(cat "$RUN/$n.pid")" 2>/dev/null || true; done
  sleep 2
  if [ -S "$RUN/containerd.sock" ]; then   # kill the pods' tasks; their shims exit with them
    for t in $(x $CTR tasks ls -q 2>/dev/null); do x $CTR tasks kill -s SIGKILL "$t" 2>/dev/null || true; done
    sleep 2
    for t in $(x $CTR tasks ls -q 2>/dev/null); do x $CTR tasks delete -f "$t" >/dev/null 2>&1 || true; done
  fi
  for n in containerd kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [ -f "$RUN/$n.pid" ] && kill "$(cat "$RUN/$n.pid")" 2>/dev/null || true; done
  sleep 2
  for f in "$RUN"/*.pid; do [ -f "$f" ] || continue; p=$(cat "$f"); kill -0 "$p" 2>/dev/null && kill -9 "$p"; rm -f "$f"; done
  # Leftover mounts under $P (pod volumes, sandbox shm, pod netns), deepest first; then the netns.
  awk -v p="$P/" -v ns="$NS" 'index($2,p)==1 && $2!=ns {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  if mountpoint -q "$NS" 2>/dev/null; then umount "$NS"; fi
  rm -f "$NS"
  for c in /sys/fs/cgroup/*/kubepods; do [ -d "$c" ] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null; done
  # The few paths outside $P that kubelet, containerd 1.6 and libcni insist on.
  [ -d /var/log/containers ] && find /var/log/containers -lname "$STATE/*" -delete
  rm -rf /var/lib/cni/results/imagerec-* /var/lib/cni/results/cni-loopback-* /var/lib/cni/networks/imagerec
  rmdir /run/containerd/s /run/containerd /var/log/containers /var/lib/cni/results /var/lib/cni/networks /var/lib/cni 2>/dev/null || true
  log "down"
}

# Each pod is gone once down has run; whatever else is left is the named process's.
leftovers() {
  local f
  for f in "$RUN"/*.pid; do [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null && echo "$(basename "$f" .pid)"; done
  mountpoint -q "$NS" 2>/dev/null && echo netns
  return 0
}

case ${1:-} in
  build) build ;;
  up) up ;;
  down) down ;;
  wipe) down; rm -rf "$STATE" "$RUN" "$PKI" "$LOG" "$ETC" ;;
  leftovers) leftovers ;;
  load-image) load_image "$2" ;;
  paths) echo "P=$P PKI=$PKI NS=$NS LOG=$LOG STATE=$STATE BIN=$K8S_BIN:$HELM_BIN:$KUBECONFORM_BIN" ;;
  k) shift; k "$@" ;;
  x) shift; x env KUBECONFIG="$PKI/admin.kubeconfig" PATH="$PATH" "$@" ;;
  *) echo "usage: $0 build|up|down|wipe|leftovers|load-image TAR|paths|k ARGS|x CMD"; exit 2 ;;
esac
