#!/usr/bin/env bash
# Release archives of the three plugins, their sha256 sums, and the krew manifests.
#
#   release/package.sh --version v0.1.0 [--out dist] [--target TRIPLE ...] [--bin-dir DIR]
#
# Declared platforms: linux/amd64, linux/arm64, darwin/amd64, darwin/arm64. Without --target it
# builds this machine's platform (cargo build --release --locked: optimized, stripped). Each
# --target is built with `cargo build --release --target TRIPLE` when that Rust target and its
# linker are installed, otherwise reported and left out of the manifests (never faked).
# --bin-dir packages binaries that are already built (for this machine's platform), e.g. the
# tests package target/debug to exercise krew without a release build.
#
# Per plugin and platform: OUT/kubectl-mesh_<p>-<version>-<os>-<arch>.tar.gz holding the binary,
# its kubectl completion helper, LICENSE and README.md; OUT/SHA256SUMS; OUT/krew/mesh-<p>.yaml
# rendered from krew/mesh-<p>.yaml with the archives' uri and sha256.
set -euo pipefail
cd "$(dirname "$0")/.."

version="" out="dist" bin_dir="" targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --bin-dir) bin_dir="$2"; shift 2 ;;
    --target) targets+=("$2"); shift 2 ;;
    *) echo "package.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
[[ "$version" =~ ^v[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]] || {
  echo "package.sh: --version must be semver with a leading v (krew requires it), e.g. v0.1.0" >&2; exit 2; }
repo_url="https://github.com/kubectl-mesh/kubectl-mesh/releases/download/$version"
plugins=(certs join verify)

host_triple=$(rustc -vV | sed -n 's/^host: //p')
platform_of() {
  case "$1" in
    x86_64-unknown-linux-gnu|x86_64-unknown-linux-musl) echo "linux amd64" ;;
    aarch64-unknown-linux-gnu|aarch64-unknown-linux-musl) echo "linux arm64" ;;
    x86_64-apple-darwin) echo "darwin amd64" ;;
    aarch64-apple-darwin) echo "darwin arm64" ;;
    *) echo "" ;;
  esac
}

mkdir -p "$out/krew"
rm -f "$out"/*.tar.gz "$out"/*.sha256 "$out/SHA256SUMS"
built=()   # "os arch dir"
if [ -n "$bin_dir" ]; then
  built+=("$(platform_of "$host_triple") $bin_dir")
else
  [ ${#targets[@]} -gt 0 ] || targets=("$host_triple")
  for t in "${targets[@]}"; do
    plat=$(platform_of "$t")
    [ -n "$plat" ] || { echo "package.sh: $t is not a declared platform" >&2; exit 2; }
    if [ "$t" = "$host_triple" ]; then
      echo "==> cargo build --release ($t)" >&2
      cargo build --release --locked --bins -p kubectl-mesh-certs -p kubectl-mesh-join -p kubectl-mesh-verify
      built+=("$plat target/release")
    elif rustup target list --installed 2>/dev/null | grep -qx "$t" &&
         cargo build --release --locked --target "$t" --bins -p kubectl-mesh-certs -p kubectl-mesh-join -p kubectl-mesh-verify; then
      built+=("$plat target/$t/release")
    else
      echo "package.sh: cannot build $t on this machine (no Rust target or linker for it): left out" >&2
    fi
  done
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
declare -A platforms_yaml
for entry in "${built[@]}"; do
  read -r os arch dir <<<"$entry"
  for p in "${plugins[@]}"; do
    bin="kubectl-mesh_$p"
    [ -x "$dir/$bin" ] || { echo "package.sh: $dir/$bin is missing (build it first)" >&2; exit 2; }
    name="$bin-$version-$os-$arch"
    rm -rf "${stage:?}/$name" && mkdir -p "$stage/$name"
    cp "$dir/$bin" "$stage/$name/$bin"
    "$dir/$bin" completion kubectl > "$stage/$name/kubectl_complete-mesh_$p"
    chmod 0755 "$stage/$name/$bin" "$stage/$name/kubectl_complete-mesh_$p"
    cp LICENSE README.md "$stage/$name/"
    # Reproducible: sorted, owner 0, fixed mtime, gzip without a timestamp.
    tar -C "$stage/$name" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . | gzip -n > "$out/$name.tar.gz"
    sum=$(sha256sum "$out/$name.tar.gz" | cut -d' ' -f1)
    echo "$sum  $name.tar.gz" > "$out/$name.tar.gz.sha256"
    echo "$sum  $name.tar.gz" >> "$out/SHA256SUMS"
    platforms_yaml[$p]+="  - selector:
      matchLabels:
        os: $os
        arch: $arch
    uri: $repo_url/$name.tar.gz
    sha256: $sum
    bin: $bin
"
    echo "package.sh: $out/$name.tar.gz ($(stat -c %s "$out/$name.tar.gz") bytes, binary $(stat -c %s "$dir/$bin") bytes)" >&2
  done
done
[ ${#built[@]} -gt 0 ] || { echo "package.sh: nothing was built" >&2; exit 2; }

for p in "${plugins[@]}"; do
  PLATFORMS="${platforms_yaml[$p]}" VERSION="$version" python3 - "krew/mesh-$p.yaml" "$out/krew/mesh-$p.yaml" <<'PY'
import os, sys
text = open(sys.argv[1]).read()
text = "\n".join(l for l in text.splitlines() if not l.startswith("# Template")) + "\n"
text = text.replace("{{VERSION}}", os.environ["VERSION"]).replace("{{PLATFORMS}}\n", os.environ["PLATFORMS"])
open(sys.argv[2], "w").write(text)
PY
done
echo "package.sh: manifests in $out/krew/ (platforms: ${built[*]%% target*})" >&2
