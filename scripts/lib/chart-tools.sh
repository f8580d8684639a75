#!/usr/bin/env bash
# chart-tools.sh: the Helm chart's tools, without a cluster: helm, kubeconform and offline schemas
# for it (Kubernetes' core from PyPI's kubernetes-validate, KEDA's CRDs converted from its Go
# module). scripts/setup builds them, scripts/check-deploy runs them; scripts/lib/cluster.sh
# sources this file for the versions and paths it shares.
#   chart-tools.sh tools                 # build what is missing (skipped where built)
#   chart-tools.sh helm ARGS | kubeconform FILES | values-keys FILE | version
# Everything lives under $K8S_CACHE (default ~/.cache/imagerec-k8s), one folder per tool and
# version, so a warm machine reuses it and a version bump builds anew.
set -euo pipefail
P="${K8S_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imagerec-k8s}"
K8S_VERSION=v1.34.4 HELM_VERSION=v3.22.0 KUBECONFORM_VERSION=v0.8.0 KEDA_VERSION=v2.21.0
KUBERNETES_VALIDATE_VERSION=1.37.0
HELM_BIN=$P/versions/helm-$HELM_VERSION KUBECONFORM_BIN=$P/versions/kubeconform-$KUBECONFORM_VERSION
GOMODCACHE="$(go env GOMODCACHE)"
KEDA_SRC=$GOMODCACHE/github.com/kedacore/keda/v2@${KEDA_VERSION}

ts() { date +%s; }
log() { echo "[$(basename "$0") $(date +%T)] $*"; }

# go_build OUT_DIR NAME VERSION BUILD...: runs BUILD unless OUT_DIR/NAME exists; prints the time.
go_build() {
  local dir=$1 name=$2 t; shift 2
  [ -x "$dir/$name" ] && return 0
  mkdir -p "$dir"; t=$(ts); "$@"; log "built $name: $(( $(ts)-t ))s"
}

# tools: helm, kubeconform and the offline schemas, each built or fetched once.
tools() {
  go_build "$HELM_BIN" helm env GOBIN="$HELM_BIN" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  go_build "$KUBECONFORM_BIN" kubeconform env GOBIN="$KUBECONFORM_BIN" go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION"
  schemas
}

SCHEMA_V=${K8S_VERSION#v}; SCHEMA_V=${SCHEMA_V%.*}.0
schemas() { # offline schemas: k8s core from PyPI kubernetes-validate, KEDA's CRDs converted from its module
  local KV V=$SCHEMA_V
  if [ ! -f "$P/schemas/k8s/v$V/deployment-apps-v1.json" ] || [ ! -f "$P/schemas/crds/scaledobject_v1alpha1.json" ]; then
    [ -x "$P/venv/bin/python" ] || { python3 -m venv "$P/venv"; "$P/venv/bin/pip" install -q --disable-pip-version-check "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" pyyaml; }
    KV=$("$P/venv/bin/python" -c 'import kubernetes_validate,os;print(os.path.dirname(kubernetes_validate.__file__))')/kubernetes-json-schema
    mkdir -p "$P/schemas/k8s/v$V" "$P/schemas/crds"
    "$P/venv/bin/python" - "$KV/v$V-local-strict" "$P/schemas/k8s/v$V" <<'EOF'
import json, os, sys   # drop the https $id and make $refs file-relative, else kubeconform goes online
src, dst = sys.argv[1:]
for f in os.listdir(src):
    s = json.load(open(os.path.join(src, f))); s.pop("$id", None)
    open(os.path.join(dst, f), "w").write(json.dumps(s).replace('"/api/_definitions.json#', '"_definitions.json#'))
EOF
    [ -d "$KEDA_SRC" ] || go mod download "github.com/kedacore/keda/v2@$KEDA_VERSION"
    [ -d "$GOMODCACHE/github.com/yannh/kubeconform@$KUBECONFORM_VERSION" ] || go mod download "github.com/yannh/kubeconform@$KUBECONFORM_VERSION"
    (cd "$P/schemas/crds" && FILENAME_FORMAT='{kind}_{version}' "$P/venv/bin/python" \
       "$GOMODCACHE/github.com/yannh/kubeconform@$KUBECONFORM_VERSION/scripts/openapi2jsonschema.py" \
       "$KEDA_SRC"/config/crd/bases/*.yaml >/dev/null)
  fi
  log "schemas for kubeconform: $P/schemas"
}

# values-keys FILE: the chart's values as dotted keys, down to what README.md documents as one.
values_keys() {
  "$P/venv/bin/python" - "$1" <<'EOF'
import sys, yaml
def walk(prefix, node, parent):
    for key, value in node.items():
        path = f"{prefix}{key}"
        # resources, config and each image are documented whole
        whole = key in ("resources", "config") or parent == "image" or (key == "image" and prefix)
        if isinstance(value, dict) and value and not whole:
            walk(path + ".", value, key)
        else:
            print(path)
walk("", yaml.safe_load(open(sys.argv[1])), "")
EOF
}

# kubeconform FILES...: strict, offline, against this Kubernetes version's schemas and KEDA's CRDs.
kubeconform_() {
  "$KUBECONFORM_BIN/kubeconform" -strict -summary -kubernetes-version "$SCHEMA_V" \
    -schema-location "$P/schemas/k8s/{{.NormalizedKubernetesVersion}}/{{.ResourceKind}}{{.KindSuffix}}.json" \
    -schema-location "$P/schemas/crds/{{.ResourceKind}}_{{.ResourceAPIVersion}}.json" "$@"
}

# built NAME DIR: DIR/NAME is there, or the caller learns where it comes from.
built() { [ -x "$2/$1" ] || { log "$1 is missing: scripts/setup builds it ($0 tools)"; exit 1; }; }

# Run, not sourced: the command.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case ${1:-} in
    tools) tools ;;
    helm) shift; built helm "$HELM_BIN"; "$HELM_BIN/helm" "$@" ;;
    kubeconform) shift; built kubeconform "$KUBECONFORM_BIN"; kubeconform_ "$@" ;;
    values-keys) [ -x "$P/venv/bin/python" ] || { log "the schemas' Python is missing: scripts/setup makes it ($0 tools)"; exit 1; }
      values_keys "$2" ;;
    version) echo "$K8S_VERSION" ;;
    *) echo "usage: $0 tools|helm ARGS|kubeconform FILES|values-keys FILE|version"; exit 2 ;;
  esac
fi
