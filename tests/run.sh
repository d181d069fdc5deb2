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

# The runner: cargo-nextest runs every test as its own process from one pool, so lab tests of
# different binaries overlap (.config/nextest.toml). Installed once, outside the repo.
NEXTEST_VERSION=0.9.151
if [ "$(cargo nextest --version 2>/dev/null | awk '{print $2; exit}')" != "$NEXTEST_VERSION" ]; then
  echo "==> installing cargo-nextest $NEXTEST_VERSION (once)" >&2
  cargo install cargo-nextest --version "$NEXTEST_VERSION" --locked --quiet
fi

echo "==> cargo nextest (unit, snapshot, lab and peer tiers)" >&2
log=$(mktemp)
MESH_LAB_COUNT_FILE=$(mktemp)
export MESH_LAB_COUNT_FILE
trap 'rm -f "$log" "$MESH_LAB_COUNT_FILE"' EXIT
status=0
started=$(date +%s)
cargo nextest run --workspace --all-targets --locked --no-fail-fast --color never \
  ${MESH_TEST_THREADS:+--test-threads "$MESH_TEST_THREADS"} 2>&1 | tee "$log" || status=$?

# Time per test binary (the sum of its tests, slowest first) and the wall time of the run: the
# suite's budget is spent here.
echo "==> time per test binary (s, sum of its tests; they overlap)" >&2
awk '/^ *(PASS|FAIL|SIGSEGV|SIGABRT|TIMEOUT|LEAK) \[ *[0-9.]+s\]/ {
       t=$0; sub(/^[^[]*\[ */, "", t); sub(/s\].*$/, "", t)
       rest=$0; sub(/^[^]]*\] */, "", rest); gsub(/\([^)]*\)/, "", rest); split(rest, f, " "); bin=f[1]
       sum[bin]+=t; total+=t }
     END { for (b in sum) printf "%8.1f  %s\n", sum[b], b; printf "%8.1f  total of all tests\n", total }' "$log" | sort -rn >&2
echo "==> wall time of the test run: $(( $(date +%s) - started )) s" >&2
echo "==> lab clusters started: $(awk '{n+=$1} END {print n+0}' "$MESH_LAB_COUNT_FILE")" >&2
awk '{n[$2]+=$1} END {for (b in n) printf "%8d  %s\n", n[b], b}' "$MESH_LAB_COUNT_FILE" | sort -rn >&2
exit "$status"
