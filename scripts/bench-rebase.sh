#!/usr/bin/env bash
# `lade rebase` benchmark for BENCHMARKS.md. Run: ./scripts/bench-rebase.sh
# LADE=PATH measures that binary instead of a fresh release build.
# (needs docker-registry and Go; ./scripts/install-deps.sh installs them, and network access to
# the Debian archive for the two bases unless BASE_CACHE holds their packages).
#
# On a fresh loopback docker-registry: two `lade base build static` bases for linux/amd64 and
# linux/arm64 (v2 = v1 + zlib1g), go-hello published on v1, then the image rebased RUNS times,
# alternately onto v2 and back onto v1, each a real rebase of both platforms. Beside it, a warm
# `lade publish` of the same image to the same registry (Go and lade caches hot): what a rebuild
# costs at best. Each figure is the median of RUNS: wall time, and lade's CPU time (user+sys).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-9}
if [ -z "${LADE:-}" ]; then
  cargo build --release --quiet
  LADE=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/lade
fi
work=$(mktemp -d)
export GOPROXY=off GOFLAGS=-modcacherw LADE_CACHE_DIR=$work/cache GOCACHE=$work/gocache
BASE_CACHE=${BASE_CACHE:-$work/base-cache}

# shellcheck source=scripts/lib/registry.sh
. scripts/lib/registry.sh
start_registry "$work"
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
plat=linux/amd64,linux/arm64

LADE_CACHE_DIR=$BASE_CACHE "$LADE" base build -q static --platform $plat --to "$reg/bases/static:v1" >/dev/null
LADE_CACHE_DIR=$BASE_CACHE "$LADE" base build -q static --package zlib1g --platform $plat --to "$reg/bases/static:v2" >/dev/null
cp -r examples/go-hello "$work/app"
publish=("$LADE" publish -q -C "$work/app" --base "$reg/bases/static:v1" --platform $plat --to "$reg/apps/publish:1" --no-attach)
"${publish[@]}" >/dev/null
"$LADE" publish -q -C "$work/app" --base "$reg/bases/static:v1" --platform $plat --to "$reg/apps/hello:1" --no-attach >/dev/null
# The same image with its SBOMs and provenance attached: its rebases attach fresh ones.
"$LADE" publish -q -C "$work/app" --base "$reg/bases/static:v1" --platform $plat --to "$reg/apps/docs:1" >/dev/null

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
# "wall cpu" of one run of "$@" (GNU time: elapsed, user + system).
measure() { /usr/bin/time -f '%e %U %S' -o "$work/t" "$@" >/dev/null 2>&1; awk '{printf "%.3f %.3f\n", $1, $2 + $3}' "$work/t"; }

: >"$work/rebase"
before=$(wc -l <"$work/access.log")
for i in $(seq "$RUNS"); do
  to=v2; [ $((i % 2)) -eq 0 ] && to=v1
  measure "$LADE" rebase -q "$reg/apps/hello:1" --base "$reg/bases/static:$to" >>"$work/rebase"
done
# Blob GETs the rebases made, with the largest response: configs are a few KiB, layers far more.
tail -n +"$((before + 1))" "$work/access.log" | grep '"GET /v2/[^ ]*/blobs/sha256:' >"$work/gets" || true
gets=$(wc -l <"$work/gets")
largest=$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /HTTP\/1.1"$/) print $(i + 2)}' "$work/gets" | sort -n | tail -1)
: >"$work/publish"
for i in $(seq "$RUNS"); do measure "${publish[@]}" >>"$work/publish"; done
# With documents: each base's layers are fetched and scanned by the first rebase onto it (the
# scan is kept), so the median is the warm case; the first two runs are said apart.
: >"$work/docs"
for i in $(seq "$RUNS"); do
  to=v2; [ $((i % 2)) -eq 0 ] && to=v1
  measure "$LADE" rebase -q "$reg/apps/docs:1" --base "$reg/bases/static:$to" >>"$work/docs"
done

cat <<OUT
machine: $(nproc) cores, $(uname -m); go-hello on lade static bases, $plat, loopback docker-registry
median of $RUNS runs            wall      lade CPU
  lade rebase (2 platforms)   $(cut -d' ' -f1 "$work/rebase" | median)s    $(cut -d' ' -f2 "$work/rebase" | median)s
  lade publish, warm          $(cut -d' ' -f1 "$work/publish" | median)s    $(cut -d' ' -f2 "$work/publish" | median)s
  lade rebase, with SBOMs     $(cut -d' ' -f1 "$work/docs" | median)s    $(cut -d' ' -f2 "$work/docs" | median)s
    (first onto v2, then v1:  $(head -2 "$work/docs" | cut -d' ' -f1 | paste -sd' ')s wall)
blob GETs during the $RUNS rebases: $gets, the largest ${largest:-0} bytes
OUT
