#!/usr/bin/env bash
# Two lade binaries against each other on a 2-platform Go publish (BENCHMARKS.md): a one-line
# change (RUNS pairs) and a cold publish with empty Go and lade caches (COLD_RUNS pairs,
# COLD_RUNS=0 to skip), in interleaved pairs, medians printed with before/after as the ratio;
# then one zstd layer of a large tree (Go's src and pkg as kodata, one platform, the layer cache
# emptied each time; LAYER_RUNS pairs, 0 to skip), and that publish with nothing changed
# (WARM_RUNS pairs, 0 to skip).
# Run: ./scripts/bench-ab.sh BEFORE_BINARY AFTER_BINARY   (needs go)
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# = 2 ] || { echo "usage: $0 BEFORE_BINARY AFTER_BINARY" >&2; exit 2; }
BEFORE=$1 AFTER=$2
RUNS=${RUNS:-9}
command -v go >/dev/null || { echo "bench-ab: go is missing (scripts/install-deps.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOPROXY=off GOFLAGS=-modcacherw
# shellcheck source=scripts/lib/pairs.sh
. scripts/lib/pairs.sh
plat=linux/amd64,linux/arm64
# Each side has its own project copy and caches, so neither finds the other's work.
for s in before after; do cp -r examples/go-hello "$work/$s"; done
publish() {
  GOCACHE=$work/gocache-$1 LADE_CACHE_DIR=$work/cache-$1 "$2" publish -q --no-attach \
    -C "$work/$1" --platform $plat --to "oci:$work/out-$1:go"
}
edit() { sed -i "s/hello[ 0-9a-z]* from go-hello/hello $2 $1 from go-hello/" "$work/$1/main.go"; }
publish before "$BEFORE" >/dev/null 2>&1
publish after "$AFTER" >/dev/null 2>&1
before_edit() { edit before "$1"; publish before "$BEFORE"; }
after_edit() { edit after "$1"; publish after "$AFTER"; }
pairs before_edit after_edit
echo "Go go-hello, 2 platforms, one-line change: before $A s, after $B s, before/after $(ratio "$B" "$A") (median of $RUNS)"
COLD_RUNS=${COLD_RUNS:-4}
if [ "$COLD_RUNS" -gt 0 ]; then
  RUNS=$COLD_RUNS
  before_cold() { rm -rf "$work/gocache-before" "$work/cache-before"; publish before "$BEFORE"; }
  after_cold() { rm -rf "$work/gocache-after" "$work/cache-after"; publish after "$AFTER"; }
  pairs before_cold after_cold
  echo "same, cold: before $A s, after $B s, before/after $(ratio "$B" "$A") (median of $RUNS)"
fi
LAYER_RUNS=${LAYER_RUNS:-7}
WARM_RUNS=${WARM_RUNS:-15}
if [ "$LAYER_RUNS" -gt 0 ] || [ "$WARM_RUNS" -gt 0 ]; then
  goroot=$(go env GOROOT)
  for s in before after; do
    mkdir -p "$work/$s/kodata/tree"
    cp -rL "$goroot/src" "$goroot/pkg" "$work/$s/kodata/tree/"
  done
  publish_tree() {
    GOCACHE=$work/gocache-$1 LADE_CACHE_DIR=$work/cache-$1 "$2" publish -q --no-attach \
      -C "$work/$1" --platform linux/amd64 --compression zstd --to "oci:$work/layer-$1:l"
  }
  # Once each first: the go build step, which reads kodata too, is then reused.
  publish_tree before "$BEFORE" >/dev/null 2>&1
  publish_tree after "$AFTER" >/dev/null 2>&1
  mib=$(du -sm --apparent-size "$work/after/kodata" | cut -f1)
  files=$(find "$work/after/kodata" -type f | wc -l)
fi
if [ "$LAYER_RUNS" -gt 0 ]; then
  RUNS=$LAYER_RUNS
  before_layer() { rm -rf "$work/cache-before/layers"; publish_tree before "$BEFORE"; }
  after_layer() { rm -rf "$work/cache-after/layers"; publish_tree after "$AFTER"; }
  pairs before_layer after_layer
  echo "zstd layer of a $mib MiB tree: before $A s, after $B s, before/after $(ratio "$B" "$A") (median of $RUNS)"
fi
# The same publish with nothing changed: every step and layer reused, so what is left is the
# work before a push's first upload (the detector's walk of the tree, the checks, the keys).
if [ "$WARM_RUNS" -gt 0 ]; then
  RUNS=$WARM_RUNS
  before_warm() { publish_tree before "$BEFORE"; }
  after_warm() { publish_tree after "$AFTER"; }
  pairs before_warm after_warm
  echo "the same tree ($files files), nothing changed: before $A s, after $B s, before/after $(ratio "$B" "$A") (median of $RUNS)"
fi
