#!/usr/bin/env bash
# Runs every test tier of kubectl-mesh: unit and snapshot tests, the lab suites (real
# Kubernetes control planes as local processes) and the peer checks (openssl, kubectl, istiod,
# istioctl). Builds the lab's Go binaries first when they are missing (cached outside the repo).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> lab binaries (etcd, Kubernetes, kwok, MetalLB, the Sail operator, istiod, istioctl, krew, Helm, promtool)" >&2
tests/lab-go/build.sh
MESH_LAB_BIN=$(tests/lab-go/build.sh --print-dir)
export MESH_LAB_BIN

echo "==> bench unit tests (the end-state comparison)" >&2
python3 -m unittest discover -s bench -q

echo "==> cargo test (unit, snapshot, lab and peer tiers)" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --all-targets --locked --no-fail-fast -- --test-threads="${MESH_TEST_THREADS:-2}" 2>&1 \
  | tee "$log" || status=$?

# Wall time per test binary, slowest first (the suite's budget is spent here).
echo "==> wall time per test binary (s)" >&2
awk '/^ *Running /{sub(/^ *Running /, ""); sub(/ \(target.*$/, ""); bin=$0}
     /^test result:/{if (match($0, /finished in [0-9.]+s/)) {
       t=substr($0, RSTART+12, RLENGTH-13); printf "%8.1f  %s\n", t, bin; total+=t }}
     END {printf "%8.1f  total\n", total}' "$log" | sort -rn >&2
exit "$status"
