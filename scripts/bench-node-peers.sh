#!/usr/bin/env bash
# lade against containerify (the ko of Node: no Dockerfile, no daemon) on examples/node-express,
# to a loopback docker-registry, for BENCHMARKS.md ("Against the peers", Node rows).
# Run: ./scripts/bench-node-peers.sh   (RUNS=5 by default, LADE=PATH for a given binary; needs
# node, npm, docker-registry; containerify 4 is installed from the npm registry into a
# temporary directory).
#
# Both push to the same registry, on the same base (lade's Debian nodejs base, built into the
# registry first), for linux/amd64, in interleaved pairs (lade, containerify, lade, …); each
# figure is the median of RUNS and the ratio is containerify's time / lade's (above 1, lade is
# faster). lade publishes as it does by default: SBOMs and provenance attached.
#  - source change: one line of lib/greeting.js changed before each run; containerify is given
#    the installed node_modules (it does not install), lade its warm cache.
#  - cold: `npm ci --omit=dev` then containerify, against lade with an empty cache (npm's own
#    download cache warm for both).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
if [ -z "${LADE:-}" ]; then
  cargo build --release --quiet
  LADE=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/release/lade
fi
for t in node npm docker-registry python3; do
  command -v "$t" >/dev/null || { echo "bench-node-peers: $t is missing (scripts/install-deps.sh)" >&2; exit 1; }
done
work=$(mktemp -d)
# shellcheck source=scripts/lib/registry.sh
. scripts/lib/registry.sh
start_registry "$work"
trap 'kill $registry_pid 2>/dev/null; rm -rf "$work"' EXIT
export npm_config_cache=$work/npm-cache npm_config_audit=false npm_config_fund=false

(cd "$work" && npm install --silent --prefix "$work/cfy" containerify@4 >/dev/null 2>&1)
cfy=$work/cfy/node_modules/.bin/containerify
LADE_CACHE_DIR=$work/base-cache "$LADE" base build -q nodejs --platform linux/amd64 --to "$reg/bases/nodejs:v1" >/dev/null

cp -r examples/node-express "$work/lade-app"
cp -r examples/node-express "$work/cfy-app"
(cd "$work/cfy-app" && npm ci --omit=dev --silent >/dev/null 2>&1)

# shellcheck source=scripts/lib/pairs.sh
. scripts/lib/pairs.sh

lade_publish() {
  "$LADE" publish -q "$work/lade-app" --platform linux/amd64 --base "$reg/bases/nodejs:v1" \
    --to "$reg/apps/lade:$1"
}
cfy_publish() {
  "$cfy" --fromRegistry "http://$reg/v2/" --fromImage bases/nodejs:v1 \
    --toRegistry "http://$reg/v2/" --toImage "apps/cfy:$1" --folder "$2" \
    --platform linux/amd64 --allowNoPushAuth --doCrossMount --layerCacheFolder "$work/cfy-layers" \
    --buildFolder "$work/cfy-build-$1"
}
greet() { sed -i "s/hello[^\"]* from node-express/hello $2 $1 from node-express/" "$3/lib/greeting.js"; }

export LADE_CACHE_DIR=$work/lade-cache
lade_publish warmup >/dev/null
cfy_publish warmup "$work/cfy-app" >/dev/null 2>&1

change_lade() { greet "$1" l "$work/lade-app"; lade_publish "c$1"; }
change_cfy() { greet "$1" c "$work/cfy-app"; cfy_publish "c$1" "$work/cfy-app"; }
pairs change_lade change_cfy
change=("$A" "$B")

cold_lade() { rm -rf "$work/lade-cache"; lade_publish "cold$1"; }
cold_cfy() {
  rm -rf "$work/cfy-cold" && cp -r examples/node-express "$work/cfy-cold"
  (cd "$work/cfy-cold" && npm ci --omit=dev --silent >/dev/null 2>&1)
  cfy_publish "cold$1" "$work/cfy-cold"
}
pairs cold_lade cold_cfy
cold=("$A" "$B")

cat <<OUT
machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg), node $(node --version), containerify $("$cfy" --version), RUNS=$RUNS
| case | lade | containerify | ratio |
|---|---|---|---|
| node-express, one-line source change, to a registry | ${change[0]} s | ${change[1]} s | $(ratio "${change[0]}" "${change[1]}") |
| node-express cold (lade: empty cache; containerify: after npm ci) | ${cold[0]} s | ${cold[1]} s | $(ratio "${cold[0]}" "${cold[1]}") |
OUT
