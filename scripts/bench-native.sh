#!/usr/bin/env bash
# Native builds for BENCHMARKS.md: cold and warm publishes of programs that compile C (with zig)
# beside pure builds of similar programs, for linux/amd64 + linux/arm64, OCI layout output.
#   rust-c    tests/fixtures/native/rust-c: a C file built by `cc` and zstd's C library, musl
#   rust-hello examples/rust-hello: pure Rust, musl (the peer)
#   go-cgo    tests/fixtures/native/go-cgo: a C function and the cgo resolver, glibc
#   go-pure   the same program with the C function written in Go, CGO_ENABLED=0 (the peer)
# Cold: empty lade cache (so an empty cargo target directory), empty Go build cache, empty zig
# cache. Warm: the same publish again. Median of RUNS runs (default 1).
# Run: ./scripts/bench-native.sh   (LADE=path/to/lade to time another build of lade; needs Go,
# the Rust musl targets and zig: ./scripts/install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-1}
if [ -z "${LADE:-}" ]; then
  cargo build --release --quiet
  LADE=$PWD/target/release/lade
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOPROXY=off GOFLAGS=-modcacherw

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; e=$(date +%s.%N); awk "BEGIN { printf \"%.2f\\n\", $e - $s }"; }

cp -r tests/fixtures/native/rust-c "$work/rust-c"
cp -r examples/rust-hello "$work/rust-hello"
cp -r tests/fixtures/native/go-cgo "$work/go-cgo"
mkdir -p "$work/go-pure"
cp tests/fixtures/native/go-cgo/go.mod "$work/go-pure/"
cat > "$work/go-pure/main.go" <<'GO'
package main

import (
	"fmt"
	"net"
	"os"
)

func mix(a, b uint32) uint32 { return a*31 + b }

func main() {
	port, err := net.LookupPort("tcp", "https")
	if err != nil {
		fmt.Println("lookup failed:", err)
		os.Exit(1)
	}
	fmt.Printf("c says %d; https is port %d; uid=%d\n", mix(6, 7), port, os.Getuid())
}
GO
plat=linux/amd64,linux/arm64

# publish NAME [extra args]: lade with this project's caches.
publish() {
  local name=$1; shift
  GOCACHE=$work/gocache-$name ZIG_GLOBAL_CACHE_DIR=$work/zig-$name LADE_CACHE_DIR=$work/cache-$name \
    timeit "$LADE" publish -q -C "$work/$name" --platform $plat --to "oci:$work/out-$name" "$@"
}

row() {
  local name=$1; shift
  local cold warm
  cold=$(for i in $(seq "$RUNS"); do
    rm -rf "$work/cache-$name" "$work/gocache-$name" "$work/zig-$name" "$work/out-$name"
    publish "$name" "$@"
  done | median)
  warm=$(for i in $(seq "$RUNS"); do publish "$name" "$@"; done | median)
  printf '  %-11s cold %7ss  warm %6ss\n' "$name" "$cold" "$warm"
}

# Both Go programs go on the same Debian 12 cc base (built once, not timed); Rust on scratch.
LADE_CACHE_DIR=$work/base-cache "$LADE" base build cc --quiet --platform $plat --to "oci:$work/cc:cc" >/dev/null
echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3), $(rustc --version | cut -d' ' -f2), zig $(python3 -m ziglang version 2>/dev/null || zig version)"
echo "linux/amd64 + linux/arm64, OCI layout output (median of $RUNS):"
row rust-hello --base scratch
row rust-c --base scratch
row go-pure --base "oci:$work/cc:cc"
row go-cgo --base "oci:$work/cc:cc"
