# shellcheck shell=bash
# Sourced by scripts/lib/cluster.sh: what runs on the cluster once its node is Ready: CoreDNS, and
# KEDA's CRDs, operator and metrics adapter (with cluster.sh's versions, paths and helpers).

coredns_up() { k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: ServiceAccount
metadata: {name: coredns, namespace: kube-system}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: system:coredns}
rules:
- {apiGroups: [""], resources: [endpoints, services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: system:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:coredns}
subjects: [{kind: ServiceAccount, name: coredns, namespace: kube-system}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: coredns, namespace: kube-system}
data:
  Corefile: |
    .:53 {
        errors
        ready
        kubernetes cluster.local in-addr.arpa ip6.arpa {
           pods insecure
           fallthrough in-addr.arpa ip6.arpa
        }
        cache 30
    }
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      serviceAccountName: coredns
      dnsPolicy: Default
      containers:
      - name: coredns
        image: coredns:local
        imagePullPolicy: Never
        args: [-conf, /etc/coredns/Corefile]
        readinessProbe: {httpGet: {path: /ready, port: 8181}, periodSeconds: 2}
        volumeMounts: [{name: config, mountPath: /etc/coredns}]
      volumes: [{name: config, configMap: {name: coredns}}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: $DNS_IP
  selector: {k8s-app: kube-dns}
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
EOF
}

keda_up() { # KEDA's CRDs, then its operator and metrics adapter as processes in the cluster's netns
  k apply --server-side -f "$KEDA_SRC/config/crd/bases/" >/dev/null
  # The aggregator reaches the adapter through a selector-less Service with manual Endpoints.
  k apply -f - >/dev/null 2>&1 <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: keda}
---
apiVersion: v1
kind: Service
metadata: {name: keda-metrics-apiserver, namespace: keda}
spec: {ports: [{name: https, port: 443, targetPort: 6444}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: keda-metrics-apiserver, namespace: keda}
subsets: [{addresses: [{ip: $NODE_IP}], ports: [{name: https, port: 6444}]}]
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {name: v1beta1.external.metrics.k8s.io}
spec:
  service: {name: keda-metrics-apiserver, namespace: keda, port: 443}
  group: external.metrics.k8s.io
  version: v1beta1
  insecureSkipTLSVerify: true
  groupPriorityMinimum: 100
  versionPriority: 100
EOF
  k wait --for=condition=Established crd/scaledobjects.keda.sh >/dev/null
  local E="env KUBECONFIG=$PKI/admin.kubeconfig WATCH_NAMESPACE= POD_NAMESPACE=keda KEDA_CLUSTER_OBJECT_NAMESPACE=keda"
  # A mount namespace of its own, where /etc/resolv.conf names CoreDNS: the metrics-api trigger
  # asks the API's Service by its DNS name, as KEDA inside a cluster would.
  start keda-operator unshare --mount --propagation private sh -c \
    "mount --bind $ETC/keda-resolv.conf /etc/resolv.conf && exec $E $KEDA_BIN/keda-operator --leader-elect=false \
      --enable-cert-rotation=false --cert-dir=$PKI/keda --ca-dir=$PKI/keda \
      --metrics-bind-address=127.0.0.1:18080 --health-probe-bind-address=127.0.0.1:18081 \
      --metrics-service-bind-address=127.0.0.1:9666"
  start keda-adapter $E "$KEDA_BIN/keda-adapter" --secure-port=6444 --cert-dir="$PKI/keda" \
    --tls-cert-file="$PKI/keda/tls.crt" --tls-private-key-file="$PKI/keda/tls.key" \
    --kubeconfig="$PKI/admin.kubeconfig" --authentication-kubeconfig="$PKI/admin.kubeconfig" \
    --authorization-kubeconfig="$PKI/admin.kubeconfig" --lister-kubeconfig="$PKI/admin.kubeconfig" \
    --metrics-service-address=127.0.0.1:9666 --port=18082
  wait_for "KEDA's metrics adapter serving" 180 k get --raw /apis/external.metrics.k8s.io/v1beta1
}
