#!/usr/bin/env bash
# The build cache shared through the registry (`--cache-repo`), for BENCHMARKS.md.
# Run: ./scripts/bench-shared-cache.sh (needs docker-registry, Go, git and npm; LADE=path
# overrides the release build).
#
# Two "machines" on one loopback docker-registry, for go-hello (linux/amd64 + linux/arm64) and
# node-express (linux/amd64, on a nodejs base lade builds into the registry first): A publishes the commit from a cold start (empty lade, Go and npm
# caches) with --cache-repo, then again with nothing changed (warm). B is another checkout path
# with its own empty caches and PATH holding only git (no go, no npm): it publishes the same
# commit with --cache-repo. Each row is one run; the digests must be equal.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${LADE:-}" ]; then
  cargo build --release --quiet
  LADE=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/lade
fi
work=$(mktemp -d)
export GOPROXY=off GOFLAGS=-modcacherw

# shellcheck source=scripts/lib/registry.sh
. scripts/lib/registry.sh
start_registry "$work"
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/nogo"
ln -s "$(command -v git)" "$work/nogo/git"

timeit() {
  local s e
  s=$(date +%s.%N)
  "$@" >"$work/last.json" 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  grep 'warning' "$work/last.err" >&2 || true
  e=$(date +%s.%N)
  awk "BEGIN { printf \"%.2f\", $e - $s }"
}
digest() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["digest"])' "$work/last.json"; }

row() { # name example platforms [publish flags…]
  local name=$1 example=$2 plat=$3
  shift 3
  mkdir -p "$work/$name/a" "$work/$name/b"
  cp -r "examples/$example" "$work/$name/a/src"
  (cd "$work/$name/a/src" && git init -q && git add -A &&
    GIT_COMMITTER_DATE=2026-01-01T00:00:00Z git -c user.name=b -c user.email=b@example.com commit -qm one)
  git clone -q "$work/$name/a/src" "$work/$name/b/src"
  local args=(publish -q --json --platform "$plat" --cache-repo "$reg/cache/$name" "$@")
  export npm_config_cache
  local a_cold a_warm b d_a d_b
  a_cold=$(LADE_CACHE_DIR=$work/$name/a/lade GOCACHE=$work/$name/a/go npm_config_cache=$work/$name/a/npm \
    timeit "$LADE" "${args[@]}" "$work/$name/a/src" --to "$reg/apps/$name:a")
  d_a=$(digest)
  a_warm=$(LADE_CACHE_DIR=$work/$name/a/lade GOCACHE=$work/$name/a/go npm_config_cache=$work/$name/a/npm \
    timeit "$LADE" "${args[@]}" "$work/$name/a/src" --to "$reg/apps/$name:a")
  if [ "$(digest)" != "$d_a" ]; then echo "A's warm publish changed the digest of $name" >&2; exit 1; fi
  local mark
  mark=$(wc -l <"$work/access.log")
  b=$(timeit env PATH="$work/nogo" LADE_CACHE_DIR="$work/$name/b/lade" GOCACHE="$work/$name/b/go" \
    npm_config_cache="$work/$name/b/npm" "$LADE" "${args[@]}" "$work/$name/b/src" --to "$reg/apps/$name:b")
  d_b=$(digest)
  local got
  got=$(tail -n +$((mark + 1)) "$work/access.log" | awk '$6 == "\"GET" && $7 ~ /\/blobs\/sha256:/ { n++; b += $10 } END { printf "%d blobs, %.1f MiB", n, b / 1048576 }')
  if [ "$d_a" != "$d_b" ]; then echo "digests differ for $name: $d_a $d_b" >&2; exit 1; fi
  local ran
  ran=$(python3 -c 'import json,sys; print(sum(1 for s in json.load(open(sys.argv[1]))["steps"] if not s.get("shared")))' "$work/last.json")
  printf '  %-34s A cold %6ss   A warm %5ss   B %5ss (steps run: %s; downloaded %s)   B/A cold %s   B/A warm %s\n' \
    "$name ($plat)" "$a_cold" "$a_warm" "$b" "$ran" "$got" \
    "$(awk "BEGIN { printf \"%.3f\", $b / $a_cold }")" "$(awk "BEGIN { printf \"%.2f\", $b / $a_warm }")"
}

echo "machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3), node $(node --version)"
echo "loopback docker-registry; B: fresh caches, another checkout, PATH=git only; same digest as A checked"
row go-hello go-hello linux/amd64,linux/arm64
# Node's base, built once from Debian packages into the registry (the same for A and B).
LADE_CACHE_DIR=$work/base-cache "$LADE" base build -q nodejs --platform linux/amd64 --to "$reg/bases/nodejs:v1" >/dev/null
row node-express node-express linux/amd64 --base "$reg/bases/nodejs:v1"
