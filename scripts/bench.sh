#!/usr/bin/env bash
# Benchmarks for BENCHMARKS.md. Run: ./scripts/bench.sh  (needs Go; ./scripts/install-deps.sh installs it)
# Each number is the median of RUNS runs of the release binary; caches are placed in a temp dir.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
cargo build --release --quiet
LADE=$PWD/target/release/lade
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOPROXY=off GOFLAGS=-modcacherw

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk "BEGIN { printf \"%.2f\\n\", $e - $s }"; }

cp -r examples/go-hello "$work/app"
plat=linux/amd64,linux/arm64

# 1. Cold: empty lade cache and empty Go build cache (compiles the standard library per platform).
cold=$(for i in $(seq "$RUNS"); do
  rm -rf "$work/cache" "$work/gocache" "$work/out"
  GOCACHE=$work/gocache LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q -C "$work/app" --platform $plat --to "oci:$work/out"
done | median)

# 2. Warm, unchanged source: Go and lade caches hot, every layer reused.
GOCACHE=$work/gocache LADE_CACHE_DIR=$work/cache "$LADE" publish -q -C "$work/app" --platform $plat --to "oci:$work/out" >/dev/null 2>&1
warm=$(for i in $(seq "$RUNS"); do
  GOCACHE=$work/gocache LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q -C "$work/app" --platform $plat --to "oci:$work/out"
done | median)

# 3. One-line change: the binary layers are rewritten, kodata reused.
edit=$(for i in $(seq "$RUNS"); do
  sed -i "s/hello[ 0-9]* from go-hello/hello $i from go-hello/" "$work/app/main.go"
  GOCACHE=$work/gocache LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q -C "$work/app" --platform $plat --to "oci:$work/out"
done | median)

# 4. Layer writing: a kodata tree copied from the Go standard library sources (~60 MiB of text),
#    one platform, Go cache hot, lade cache emptied each run so the layer is tarred and gzipped.
gosrc=$(go env GOROOT)/src
mkdir -p "$work/app/kodata/src" && cp -r "$gosrc"/. "$work/app/kodata/src/"
tree_mib=$(du -sm --apparent-size "$work/app/kodata" | cut -f1)
layer=$(for i in $(seq "$RUNS"); do
  rm -rf "$work/cache"
  GOCACHE=$work/gocache LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q -C "$work/app" --platform linux/amd64 --to "oci:$work/out2"
done | median)
cached_layer=$(for i in $(seq "$RUNS"); do
  GOCACHE=$work/gocache LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q -C "$work/app" --platform linux/amd64 --to "oci:$work/out2"
done | median)

cat <<OUT
machine: $(nproc) cores, $(uname -m), $(go version | cut -d' ' -f3)
go-hello, linux/amd64+linux/arm64, OCI layout output (median of $RUNS):
  cold (no caches)                 ${cold}s
  warm, unchanged                  ${warm}s
  warm, one-line change            ${edit}s
kodata of ${tree_mib} MiB, linux/amd64:
  layer written (lade cache empty) ${layer}s
  layer reused (lade cache hot)    ${cached_layer}s
OUT
