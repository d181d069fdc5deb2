#!/usr/bin/env bash
# Builds the lab's Go programs from their modules into a version-keyed cache outside the
# repository, so a cold machine builds once and every later run reuses the binaries.
#
#   tests/lab-go/build.sh [--print-dir] [FAMILY ...]     FAMILY: etcd k8s istio krew kwok sail metallb helm prometheus (default: all)
#
# Each family has its own go.mod beside this script (so MVS never mixes their dependencies).
# The cache key is the family plus a hash of its go.mod and go.sum: a version bump rebuilds,
# anything else is a no-op. A family counts as built when every one of its programs is in its
# output directory; a program added to a family is built alone, the others are kept. The
# binaries land in $MESH_LAB_CACHE/<family>-<key>/ and a stable link $MESH_LAB_CACHE/bin/<program>
# points at the current build.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${MESH_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-mesh-lab}
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

print_dir=0
families=()
for arg in "$@"; do
  case "$arg" in
    --print-dir) print_dir=1 ;;
    etcd|k8s|istio|krew|kwok|sail|metallb|helm|prometheus) families+=("$arg") ;;
    *) echo "build.sh: unknown family '$arg' (etcd, k8s, istio, krew, kwok, sail, metallb, helm, prometheus)" >&2; exit 2 ;;
  esac
done
if [ "$print_dir" = 1 ]; then echo "$cache/bin"; exit 0; fi
[ ${#families[@]} -gt 0 ] || families=(etcd k8s istio krew kwok sail metallb helm prometheus)

command -v go >/dev/null || { echo "build.sh: Go is not installed (needed to build the lab)" >&2; exit 2; }

# module version of a requirement in a family's go.mod
modver() { awk -v m="$2" '$1==m {print $2; exit} $1=="require" && $2==m {print $3; exit}' "$here/$1/go.mod"; }

ldflags_for() {
  case "$1" in
    k8s)
      local v; v=$(modver k8s k8s.io/kubernetes)
      local minor; minor=$(echo "$v" | cut -d. -f2)
      local p=k8s.io/component-base/version
      echo "-s -w -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean"
      ;;
    istio)
      # The version Istio's own build stamps from the module's VERSION file ("1.31-dev" for a
      # commit on the way to 1.31): `mesh-join --installer istioctl` checks it against the mesh.
      local p=istio.io/istio/pkg/version dir
      dir=$(cd "$here/istio" && go list -m -f '{{.Dir}}' istio.io/istio)
      echo "-s -w -X $p.buildVersion=$(cat "$dir/VERSION")-dev -X $p.buildStatus=Clean -X $p.buildTag=lab"
      ;;
    helm)
      local p=helm.sh/helm/v4/internal/version
      echo "-s -w -X $p.version=$(modver helm helm.sh/helm/v4)"
      ;;
    *) echo "-s -w" ;;
  esac
}

programs_for() {
  case "$1" in
    etcd) echo "go.etcd.io/etcd/server/v3:etcd" ;;
    k8s) echo "k8s.io/kubernetes/cmd/kube-apiserver:kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager:kube-controller-manager k8s.io/kubernetes/cmd/kubectl:kubectl k8s.io/kubernetes/cmd/kube-scheduler:kube-scheduler" ;;
    istio) echo "istio.io/istio/pilot/cmd/pilot-discovery:pilot-discovery istio.io/istio/istioctl/cmd/istioctl:istioctl" ;;
    krew) echo "sigs.k8s.io/krew/cmd/krew:kubectl-krew sigs.k8s.io/krew/cmd/validate-krew-manifest:validate-krew-manifest" ;;
    kwok) echo "sigs.k8s.io/kwok/cmd/kwok:kwok" ;;
    sail) echo "./cmd:sail-operator" ;;
    # The controller only (it assigns addresses); the speaker, which answers ARP/BGP for
    # them, has nothing to do when the addresses are local to this host. v0.15.2 is the newest
    # release the Go module proxy can build: v0.16.x needs github.com/metallb/frr-k8s v0.0.27,
    # which it does not serve (v0.15.2 asks for v0.0.20; MVS takes v0.0.21, which it does).
    metallb) echo "go.universe.tf/metallb/controller:metallb-controller" ;;
    # Helm, for `mesh-join --installer helm` (v4 is the current major; the charts are Istio's own,
    # from the istio family's module).
    helm) echo "helm.sh/helm/v4/cmd/helm:helm" ;;
    # promtool lints `mesh-verify --watch`'s exposition and the example alerting rules.
    prometheus) echo "github.com/prometheus/prometheus/cmd/promtool:promtool" ;;
  esac
}

# The Prometheus operator's ServiceMonitor and PrometheusRule CRDs, for a server-side dry run of
# what `mesh-verify install-watch` renders: data files of its root module, which the Go module
# proxy serves at this version (checked against the checksum database like any module).
PROMETHEUS_OPERATOR=github.com/prometheus-operator/prometheus-operator@v0.86.1

# The Sail operator is built from its release source, which no module proxy serves (see
# tests/lab-go/sail/README.md): the tarball is checked, unpacked into the family's output
# directory, patched, and built there with the family's go.mod and go.sum.
SAIL_VERSION=1.30.3
SAIL_SHA256=1c3e9c0e690afe3cdac54b7664aabc0311e5c65d7c2985f369d80111997bd5cb
SAIL_URL=https://github.com/istio-ecosystem/sail-operator/archive/refs/tags/$SAIL_VERSION.tar.gz
sail_source() {
  local out=$1 tarball=${MESH_LAB_SAIL_TARBALL:-$here/../../../shared/vendor/sail-operator-$SAIL_VERSION.tar.gz}
  if [ ! -f "$tarball" ]; then
    tarball="$out/sail-operator-$SAIL_VERSION.tar.gz"
    echo "lab build:   fetching $SAIL_URL" >&2
    curl -fsSL -o "$tarball" "$SAIL_URL" || { echo "build.sh: Sail operator source not found; set MESH_LAB_SAIL_TARBALL to sail-operator-$SAIL_VERSION.tar.gz ($SAIL_URL)" >&2; exit 2; }
  fi
  echo "$SAIL_SHA256  $tarball" | sha256sum -c --quiet - >&2 || { echo "build.sh: $tarball does not have sha256 $SAIL_SHA256" >&2; exit 2; }
  rm -rf "$out/src" && mkdir -p "$out/src"
  tar xzf "$tarball" -C "$out/src" --strip-components=1
  (cd "$out/src" && patch -s -p1 < "$here/sail/lab.patch")
  cp "$here/sail/go.mod" "$here/sail/go.sum" "$out/src/"
  # Its image table, as the chart's Deployment hands it over (downward API of the annotations).
  awk '/^  annotations:/ {on=1; next} on && /^    images\./ {sub(/^    /, ""); k=$1; sub(/:$/, "", k); print k "=\"" $2 "\""; next} on {exit}' \
    "$out/src/chart/values.yaml" > "$out/sail-config.properties"
  cat "$out"/src/chart/crds/sailoperator.io_*.yaml > "$out/sail-crds.yaml"
}

mkdir -p "$cache/bin"
for fam in "${families[@]}"; do
  # istio and helm: their version stamps are part of what is built (the other families' flags
  # only strip symbols, and leaving them out keeps their caches).
  stamp=""
  case "$fam" in istio|helm) stamp=$(ldflags_for "$fam") ;; esac
  key=$({ cat "$here/$fam/go.mod" "$here/$fam/go.sum"; cat "$here/$fam/"*.patch 2>/dev/null || true; echo "$stamp"; } | sha256sum | cut -c1-12)
  out="$cache/$fam-$key"
  missing=()
  for spec in $(programs_for "$fam"); do
    [ -f "$out/${spec##*:}" ] || missing+=("$spec")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "lab build: $fam up to date ($out)" >&2
  else
    echo "lab build: building $fam into $out (a cold build takes a while on few cores)" >&2
    mkdir -p "$out"
    start=$(date +%s)
    src="$here/$fam"
    if [ "$fam" = sail ]; then sail_source "$out"; src="$out/src"; fi
    for spec in "${missing[@]}"; do
      pkg=${spec%%:*}; name=${spec##*:}
      echo "lab build:   go build $pkg -> $name" >&2
      (cd "$src" && go build -trimpath -ldflags "$(ldflags_for "$fam")" -o "$out/$name.tmp" "$pkg")
      mv "$out/$name.tmp" "$out/$name"
    done
    echo "lab build: $fam done in $(( $(date +%s) - start ))s" >&2
  fi
  for spec in $(programs_for "$fam"); do
    name=${spec##*:}
    ln -sfn "$out/$name" "$cache/bin/$name"
  done
  # Data files the lab reads from the same module versions: Istio's CRDs.
  if [ "$fam" = istio ]; then
    if [ ! -f "$out/istio-crd-all.gen.yaml" ]; then
      dir=$(cd "$here/istio" && go list -m -f '{{.Dir}}' istio.io/istio)
      cp "$dir/manifests/charts/base/files/crd-all.gen.yaml" "$out/istio-crd-all.gen.yaml.tmp"
      chmod 0644 "$out/istio-crd-all.gen.yaml.tmp"
      mv "$out/istio-crd-all.gen.yaml.tmp" "$out/istio-crd-all.gen.yaml"
    fi
    # Its charts, for `mesh-join --installer helm --charts DIR` (base and istiod).
    if [ ! -d "$out/charts/istiod" ]; then
      dir=$(cd "$here/istio" && go list -m -f '{{.Dir}}' istio.io/istio)
      rm -rf "$out/charts.tmp" && mkdir -p "$out/charts.tmp"
      cp -r "$dir/manifests/charts/base" "$out/charts.tmp/base"
      cp -r "$dir/manifests/charts/istio-control/istio-discovery" "$out/charts.tmp/istiod"
      chmod -R u+w,go+r "$out/charts.tmp"
      # Stamped as Istio's release does when it packages them (the source says 1.0.0).
      for c in base istiod; do
        sed -i -E "s/^(version|appVersion): .*/\1: $(cat "$dir/VERSION").0-dev/" "$out/charts.tmp/$c/Chart.yaml"
      done
      mv "$out/charts.tmp" "$out/charts"
    fi
    mkdir -p "$cache/share"
    ln -sfn "$out/istio-crd-all.gen.yaml" "$cache/share/istio-crd-all.gen.yaml"
    ln -sfn "$out/charts" "$cache/share/istio-charts"
  fi
  if [ "$fam" = prometheus ]; then
    if [ ! -f "$out/monitoring-crds.yaml" ]; then
      dir=$(cd "$here/prometheus" && go mod download -json "$PROMETHEUS_OPERATOR" | awk -F'"' '$2=="Dir" {print $4}')
      [ -n "$dir" ] || { echo "build.sh: go mod download $PROMETHEUS_OPERATOR gave no directory" >&2; exit 2; }
      for k in servicemonitors prometheusrules; do
        echo "---"; cat "$dir/example/prometheus-operator-crd/monitoring.coreos.com_$k.yaml"
      done > "$out/monitoring-crds.yaml.tmp"
      chmod 0644 "$out/monitoring-crds.yaml.tmp"
      mv "$out/monitoring-crds.yaml.tmp" "$out/monitoring-crds.yaml"
    fi
    mkdir -p "$cache/share"
    ln -sfn "$out/monitoring-crds.yaml" "$cache/share/monitoring-crds.yaml"
  fi
  if [ "$fam" = sail ]; then
    mkdir -p "$cache/share"
    ln -sfn "$out/sail-crds.yaml" "$cache/share/sail-crds.yaml"
    ln -sfn "$out/sail-config.properties" "$cache/share/sail-config.properties"
  fi
  # kwok's PortForward CRD: the lab's pod runner tells kwok, as each istiod pod's kubelet, where
  # that pod's ports listen on this host (kwok then serves the API server's port-forwards).
  if [ "$fam" = kwok ]; then
    if [ ! -f "$out/kwok-crds.yaml" ]; then
      dir=$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
      cp "$dir/kustomize/crd/bases/kwok.x-k8s.io_portforwards.yaml" "$out/kwok-crds.yaml.tmp"
      chmod 0644 "$out/kwok-crds.yaml.tmp"
      mv "$out/kwok-crds.yaml.tmp" "$out/kwok-crds.yaml"
    fi
    mkdir -p "$cache/share"
    ln -sfn "$out/kwok-crds.yaml" "$cache/share/kwok-crds.yaml"
  fi
  # MetalLB's CRDs: its kustomize bases, without the patch that routes BGPPeer conversion to
  # its webhook (the lab runs none; with conversion None both BGPPeer versions are still
  # served, which is enough where no BGP peer is defined).
  if [ "$fam" = metallb ]; then
    if [ ! -f "$out/metallb-crds.yaml" ]; then
      dir=$(cd "$here/metallb" && go list -m -f '{{.Dir}}' go.universe.tf/metallb)
      for f in "$dir"/config/crd/bases/metallb.io_*.yaml; do
        echo "---"; cat "$f"
      done > "$out/metallb-crds.yaml.tmp"
      chmod 0644 "$out/metallb-crds.yaml.tmp"
      mv "$out/metallb-crds.yaml.tmp" "$out/metallb-crds.yaml"
    fi
    mkdir -p "$cache/share"
    ln -sfn "$out/metallb-crds.yaml" "$cache/share/metallb-crds.yaml"
  fi
done
