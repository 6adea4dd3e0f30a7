#!/usr/bin/env bash
# Several projects in one run, for BENCHMARKS.md. Run: ./scripts/bench-multi.sh (needs Go).
# Five copies of examples/go-hello, each its own module: five separate publishes one after the
# other, against one `lade publish ROOT` with -j 1 and with -j 2. Go's build cache is warm (the
# standard library is compiled once before timing); lade's cache is emptied before each run, so
# every binary is linked and every layer written. LADE=path overrides the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LADE:-}" ]; then
  cargo build --release --quiet
  LADE=$PWD/target/release/lade
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOPROXY=off GOFLAGS=-modcacherw GOCACHE=$work/gocache

timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk "BEGIN { printf \"%.2f\\n\", $e - $s }"; }

names="svc-a svc-b svc-c svc-d svc-e"
printf '[workspace]\nmembers = ["services/*"]\n' > "$work/lade.toml"
mkdir -p "$work/services"
for n in $names; do
  cp -r examples/go-hello "$work/services/$n"
  printf 'module example.com/%s\n\ngo 1.19\n' "$n" > "$work/services/$n/go.mod"
  sed -i "s/hello from go-hello/hello from $n/" "$work/services/$n/main.go"
done
plat=linux/amd64
# Warm Go's cache: the standard library and each service compiled once.
LADE_CACHE_DIR=$work/cache "$LADE" publish -q "$work" --platform $plat --to "oci:$work/out:{name}" >/dev/null 2>&1

separate() {
  for n in $names; do
    "$LADE" publish -q "$work/services/$n" --platform $plat --to "oci:$work/out:$n"
  done
}
rm -rf "$work/cache" "$work/out"
one_by_one=$(LADE_CACHE_DIR=$work/cache timeit separate)
rm -rf "$work/cache" "$work/out"
j1=$(LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q "$work" -j 1 --platform $plat --to "oci:$work/out:{name}")
rm -rf "$work/cache" "$work/out"
j2=$(LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q "$work" -j 2 --platform $plat --to "oci:$work/out:{name}")

cat <<OUT
machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3)
five go-hello services, $plat, one OCI layout (a tag each), Go cache warm, lade cache empty:
  five separate publishes          ${one_by_one}s
  lade publish ROOT -j 1           ${j1}s
  lade publish ROOT -j 2           ${j2}s
OUT
