#!/usr/bin/env bash
# lade side by side with its peers, in one run, as ratios (BENCHMARKS.md, "Against the peers").
# Run: ./scripts/bench-peers.sh   (RUNS=5 by default, LADE=PATH for a given binary, ONLY=go for
# the Go rows, ONLY=layer for those and the layer writes; needs go, pigz, zstd, skopeo,
# docker-registry and /usr/bin/time: ./scripts/install-deps.sh installs them)
#
# Every case times lade and its peer in interleaved A/B pairs (A, B, A, B, …), so a machine
# that gets busier or quieter during the run slows both alike; each figure is the median of RUNS.
# The ratio is peer time / lade time: above 1, lade is faster.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
# LADE=PATH measures a given lade binary instead of building this checkout's.
if [ -z "${LADE:-}" ]; then
  cargo build --release --quiet
  LADE=${CARGO_TARGET_DIR:-$PWD/target}/release/lade
fi
for t in go pigz zstd skopeo docker-registry curl python3 /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "bench-peers: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
work=$(mktemp -d)
registry_pid=
cleanup() { [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
export GOPROXY=off GOFLAGS=-modcacherw GOCACHE=$work/gocache LADE_CACHE_DIR=$work/cache

# shellcheck source=scripts/lib/pairs.sh
. scripts/lib/pairs.sh
rows=()
row() { rows+=("$(printf '| %s | %s s | %s: %s s | %s |' "$1" "$2" "$3" "$4" "$(ratio "$2" "$4")")"); }

plat=linux/amd64,linux/arm64
cp -r examples/go-hello "$work/lade-app"
cp -r examples/go-hello "$work/go-app"

# go build as lade runs it, for both platforms, in the peer's copy.
go_builds() {
  for p in amd64 arm64; do
    (cd "$work/go-app" && CGO_ENABLED=0 GOOS=linux GOARCH=$p go build -trimpath -buildvcs=false \
      -ldflags=-buildid= -o "$work/go-out/$p/go-hello" .)
  done
}
lade_go() { "$LADE" publish -q -C "$work/lade-app" --platform $plat --to "oci:$work/out:go"; }

# 1. Go, nothing changed: both warmed once first.
lade_go >/dev/null 2>&1; go_builds
noop_lade() { lade_go; }
noop_go() { go_builds; }
pairs noop_lade noop_go
row "Go go-hello, 2 platforms, nothing changed" "$A" '`go build` ×2' "$B"

# 2. Go, one-line change: each side gets its own edit (the same size), so neither finds the
#    other's compile in Go's shared build cache.
edit_lade() { sed -i "s/hello[ 0-9a-z]* from go-hello/hello $1 l from go-hello/" "$work/lade-app/main.go"; lade_go; }
edit_go() { sed -i "s/hello[ 0-9a-z]* from go-hello/hello $1 g from go-hello/" "$work/go-app/main.go"; go_builds; }
pairs edit_lade edit_go
row "same, one-line change" "$A" '`go build` ×2 after the same change' "$B"
# ONLY=go: the two Go rows alone (a change to multi-platform publishing, measured in minutes).
if [ "${ONLY:-}" = go ]; then
  printf '| case | lade | peer | ratio |\n|---|---|---|---|\n'
  printf '%s\n' "${rows[@]}"
  exit 0
fi

# 3. Layer write: a tree of Go's sources and compiled packages as kodata, one platform, the
#    layer cache emptied each run (the go build step stays reused). The peer is the same tree
#    through tar, pigz -6 and sha256sum (a layer's digest).
goroot=$(go env GOROOT)
mkdir -p "$work/lade-app/kodata/tree"
cp -rL "$goroot/src" "$goroot/pkg" "$work/lade-app/kodata/tree/"
tree_mib=$(du -sm --apparent-size "$work/lade-app/kodata" | cut -f1)
tree_files=$(find "$work/lade-app/kodata" -type f | wc -l)
lade_layer() {
  rm -rf "$LADE_CACHE_DIR/layers"
  "$LADE" publish -q --no-attach -C "$work/lade-app" --platform linux/amd64 --to "oci:$work/out-layer:l" "${@:2}"
}
lade_gzip() { lade_layer "$1"; }
lade_zstd() { lade_layer "$1" --compression zstd; }
tar_pigz() { tar -cf - -C "$work/lade-app/kodata" . | pigz -6 | sha256sum; }
lade_gzip 0 >/dev/null 2>&1
pairs lade_gzip tar_pigz
row "${tree_mib} MiB tree (${tree_files} files) → one gzip layer" "$A" '`tar | pigz -6 | sha256sum`' "$B"
pairs lade_zstd tar_pigz
row "the same, \`--compression zstd\`" "$A" '`tar | pigz -6 | sha256sum`' "$B"
# The floor for zstd at its default level (lade's, BuildKit's, containers' own): the zstd CLI
# on all cores. lade hashes the uncompressed tar too (the diff ID); this pipeline does not.
tar_zstd() { tar -cf - -C "$work/lade-app/kodata" . | zstd -q -3 -T0 | sha256sum; }
pairs lade_zstd tar_zstd
row "the same, \`--compression zstd\`" "$A" '`tar | zstd -3 -T0 | sha256sum`' "$B"
# How far level 3 can go here at all: zstd's own CLI against the same pigz pipeline. A zstd
# layer at this level is as fast as this ratio, not faster.
pairs tar_zstd tar_pigz
zstd_cli_ratio=$(ratio "$A" "$B")
# zstd at level 1 (`--compression-level 1`), for whoever trades size for speed.
lade_zstd1() { lade_layer "$1" --compression zstd --compression-level 1; }
pairs lade_zstd1 tar_pigz
row "the same, \`--compression zstd --compression-level 1\`" "$A" '`tar | pigz -6 | sha256sum`' "$B"
# ONLY=layer: the Go rows and the layer-write rows alone (a change to the layer writer).
if [ "${ONLY:-}" = layer ]; then
  printf '| case | lade | peer | ratio |\n|---|---|---|---|\n'
  printf '%s\n' "${rows[@]}"
  echo "\`tar | zstd -3 -T0 | sha256sum\` against \`tar | pigz -6 | sha256sum\`: ${zstd_cli_ratio}"
  exit 0
fi
# The sizes in bytes of the layers of the image tagged `l` in the layout lade writes the tree to.
layer_sizes() {
  python3 - "$work/out-layer" <<'PY'
import json, sys
d = sys.argv[1]
blob = lambda dg: json.load(open(f"{d}/blobs/sha256/{dg.split(':')[1]}"))
top = [m for m in json.load(open(f"{d}/index.json"))["manifests"]
       if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == "l"][0]
print("\n".join(str(l["size"]) for l in blob(top["digest"])["layers"]))
PY
}
sizes=()
# gzip last: the push below copies the layout as the gzip publish leaves it.
for c in "zstd --compression-level 1" "zstd" "gzip"; do
  # shellcheck disable=SC2086 # the words of $c are flags
  lade_layer 0 --compression $c >/dev/null
  sizes+=("$c $(layer_sizes | sort -n | tail -1 | awk '{ printf "%.1f", $1 / 1048576 }') MiB")
done
# CPU seconds (user + sys, children included) of one gzip run of each: on a machine shared with
# other work, wall time follows how many threads each side keeps runnable, CPU time does not.
cpu_of() {
  /usr/bin/time -f '%U %S' -o "$work/cpu.txt" "$@" >/dev/null 2>&1
  awk '{ printf "%.2f", $1 + $2 }' "$work/cpu.txt"
}
lade_gzip_cpu=$(cpu_of bash -c "rm -rf '$LADE_CACHE_DIR/layers' && '$LADE' publish -q --no-attach -C '$work/lade-app' --platform linux/amd64 --to 'oci:$work/out-layer:l'")
pigz_cpu=$(cpu_of bash -c "tar -cf - -C '$work/lade-app/kodata' . | pigz -6 | sha256sum")
# A warm publish of that tree: the stat cache answers for every file.
warm_tree() { "$LADE" publish -q --no-attach -C "$work/lade-app" --platform linux/amd64 --to "oci:$work/out-layer:l"; }
tar_sha() { tar -cf - -C "$work/lade-app/kodata" . | sha256sum; }
pairs warm_tree tar_sha
row "the same tree, nothing changed (layer cached)" "$A" '`tar | sha256sum` (reading the tree once)' "$B"

# 4. Push: the image of case 3 (layers cached) to an empty registry, against skopeo copying
#    lade's own OCI layout of the same image. A fresh registry for every run.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
start_registry() {
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null || true
  rm -rf "$work/registry" && mkdir -p "$work/registry"
  printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: 127.0.0.1:%s\nlog:\n  level: error\n' \
    "$work/registry" "$port" >"$work/registry.yml"
  docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
  registry_pid=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && return; sleep 0.05; done
  echo "bench-peers: the registry did not start" >&2; exit 1
}
lade_push() { "$LADE" publish -q --no-attach -C "$work/lade-app" --platform linux/amd64 --to "127.0.0.1:$port/bench/app:v1"; }
skopeo_push() { skopeo copy -q --dest-tls-verify=false "oci:$work/out-layer:l" "docker://127.0.0.1:$port/bench/app:v1"; }
# A new registry with empty storage before each run, started outside the timing.
BEFORE_EACH=start_registry pairs lade_push skopeo_push
push_mib=$(layer_sizes | awk '{ s += $1 } END { printf "%d", s / 1048576 + 0.5 }')
row "push of that image (${push_mib} MiB) to an empty registry, layers cached" "$A" '`skopeo copy` of lade'"'"'s OCI layout' "$B"

# 4b. The same image made and pushed in one command, over a link like a CI runner's to a
#     registry elsewhere (scripts/lib/slowlink.py paces all traffic to LINK_MBIT, 200 by
#     default; on loopback an upload costs only CPU and waits on nothing). The layer cache is
#     emptied each run, so the kodata layer is compressed again; lade's upload follows its
#     compressor. The peer writes the same layer with `tar | pigz -6`, then `skopeo copy`s the
#     image over the same link: the usual two steps, one after the other.
link_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 scripts/lib/slowlink.py "$link_port" "$port" "${LINK_MBIT:-200}" &
link_pid=$!
cleanup_link() { kill "$link_pid" 2>/dev/null || true; }
trap 'cleanup_link; cleanup' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$link_port/v2/" >/dev/null 2>&1 && break; sleep 0.05; done
cold_registry() { start_registry; rm -rf "$LADE_CACHE_DIR/layers"; }
lade_cold_push() { "$LADE" publish -q --no-attach -C "$work/lade-app" --platform linux/amd64 --to "127.0.0.1:$link_port/bench/app:v1"; }
pigz_then_skopeo() {
  tar -cf - -C "$work/lade-app/kodata" . | pigz -6 >"$work/peer-layer.gz"
  skopeo copy -q --dest-tls-verify=false "oci:$work/out-layer:l" "docker://127.0.0.1:$link_port/bench/app:v1"
}
BEFORE_EACH=cold_registry pairs lade_cold_push pigz_then_skopeo
row "the same, layer cache emptied, written and pushed over a ${LINK_MBIT:-200} Mbit/s link" "$A" '`tar | pigz -6`, then `skopeo copy` over the link' "$B"
cleanup_link

# 5. Memory: lade's peak RSS writing a 1 GiB tree (one layer, empty cache).
mkdir -p "$work/lade-app/kodata/more"
while [ "$(du -sm --apparent-size "$work/lade-app/kodata" | cut -f1)" -lt 1024 ]; do
  n=$(ls "$work/lade-app/kodata/more" | wc -l)
  cp -rL "$goroot/pkg" "$work/lade-app/kodata/more/$n"
done
big_mib=$(du -sm --apparent-size "$work/lade-app/kodata" | cut -f1)
# A lade whose go build step counts kodata (before its inputs were the imported packages' files)
# runs go build again for the grown tree: do that first, or the peak measured is the Go
# linker's (about 100 MiB), not lade's.
"$LADE" publish -q --no-attach -C "$work/lade-app" --platform linux/amd64 --to "oci:$work/out-big:b" >/dev/null
rm -rf "$LADE_CACHE_DIR/layers"
/usr/bin/time -v "$LADE" publish -q --no-attach -C "$work/lade-app" --platform linux/amd64 \
  --to "oci:$work/out-big:b" 2>"$work/time.txt" >/dev/null
rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$work/time.txt")
# The same with zstd: its compressor keeps larger buffers than gzip's blocks.
rm -rf "$LADE_CACHE_DIR/layers"
/usr/bin/time -v "$LADE" publish -q --no-attach -C "$work/lade-app" --platform linux/amd64 \
  --compression zstd --to "oci:$work/out-big:z" 2>"$work/time.txt" >/dev/null
zstd_rss_kib=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")

# 6. Nothing changed, every language: each example published to a layout until its steps are
#    reused (the first publish builds), then timed RUNS times. Target: under 0.15 s each.
LADE_CACHE_DIR=$work/base-cache "$LADE" base build -q nodejs --platform linux/amd64 --to "oci:$work/bases:nodejs" >/dev/null
LADE_CACHE_DIR=$work/base-cache "$LADE" base build -q python3 --platform linux/amd64 --to "oci:$work/bases:python3" >/dev/null
noop_rows=()
for ex in go-hello rust-hello node-express python-flask java-maven; do
  base=()
  case $ex in
    node-express) base=(--base "oci:$work/bases:nodejs") ;;
    python-flask) base=(--base "oci:$work/bases:python3") ;;
  esac
  cp -r "examples/$ex" "$work/noop-$ex"
  noop() { "$LADE" publish -q -C "$work/noop-$ex" "${base[@]}" --platform linux/amd64 --to "oci:$work/out-noop:$ex"; }
  timeit noop >/dev/null
  timeit noop >/dev/null
  times=()
  for i in $(seq "$RUNS"); do times+=("$(timeit noop)"); done
  noop_rows+=("| $ex | $(printf '%s\n' "${times[@]}" | median) s |")
done

cat <<OUT
machine: $(nproc) cores, $(uname -m), load average $(cut -d' ' -f1-3 /proc/loadavg), $(go version | cut -d' ' -f3)
lade vs peers, interleaved A/B pairs, median of $RUNS; ratio = peer / lade (above 1: lade faster)

| case | lade | peer | ratio |
|---|---|---|---|
$(printf '%s\n' "${rows[@]}")

kodata layer size: $(printf '%s, ' "${sizes[@]}" | sed 's/, $//') (tar: ${tree_mib} MiB)
\`tar | zstd -3 -T0 | sha256sum\` against \`tar | pigz -6 | sha256sum\` (no lade; the most a level-3 zstd layer can reach here): ${zstd_cli_ratio}

Nothing changed, each language's example to an OCI layout, linux/amd64, median of $RUNS (target: under 0.15 s):

| example | lade publish |
|---|---|
$(printf '%s\n' "${noop_rows[@]}")

CPU (user + sys) of one gzip layer write of the ${tree_mib} MiB tree: lade ${lade_gzip_cpu} s, tar | pigz -6 | sha256sum ${pigz_cpu} s (ratio $(ratio "$lade_gzip_cpu" "$pigz_cpu"))
peak RSS of lade writing a ${big_mib} MiB tree into one gzip layer (go build step reused): $((rss_kib / 1024)) MiB (wall ${wall})
the same into one zstd layer: $((zstd_rss_kib / 1024)) MiB
OUT
