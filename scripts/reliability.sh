#!/usr/bin/env bash
# Reliability figures for BENCHMARKS.md. Run: ./scripts/reliability.sh   (RUNS=10 KILLS=10 by default)
#
# With the release binary and Debian's docker-registry on loopback:
#   1. faults: go-hello (warm cache, linux/amd64 + linux/arm64) is published RUNS times per fault
#      kind through tests/fixtures/registry/fault_proxy.py. Each run gets a fresh registry and a
#      fresh proxy, so every blob has to be uploaded and every one-shot fault fires. A run counts
#      as verified when lade exits 0 and the tag, read from the registry directly (curl with OCI
#      Accept headers, and skopeo inspect --raw), has the digest the --json report gives.
#   2. kills: KILLS times, a copy of go-hello with a fresh random kodata file of KILL_MIB MiB
#      (default 20) is published through the fault proxy adding KILL_LATENCY ms (default 150) to
#      every request, so the push lasts seconds, and killed with SIGKILL. Odd kills land at a random 0.1-3 s;
#      even kills wait until the run's first new blob is in the repository (its upload done)
#      and land a random 0-0.3 s later, in the middle of the upload. The tag must then be
#      absent or name a manifest whose every blob the registry has. Publishing again must
#      upload no more blobs than the repository was missing.
#   3. bad inputs: the integration test table of bad inputs (tests/integration/bad_inputs_table.rs).
# Needs: cargo, go, docker-registry, skopeo, curl, jq, python3 (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
# Which parts run (all by default): SECTIONS="kills" measures only the kills.
SECTIONS=${SECTIONS:-faults kills bad}
want() { [[ " $SECTIONS " == *" $1 "* ]]; }
KILLS=${KILLS:-10}
KILL_MIB=${KILL_MIB:-20}
KILL_LATENCY=${KILL_LATENCY:-150}
PLATFORMS=linux/amd64,linux/arm64

for tool in cargo go docker-registry skopeo curl jq python3 sha256sum; do
  command -v "$tool" >/dev/null || {
    echo "reliability.sh: required tool \`$tool\` is not installed (scripts/install-deps.sh installs it)" >&2
    exit 1
  }
done

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet
LADE=$CARGO_TARGET_DIR/release/lade
PROXY=$PWD/tests/fixtures/registry/fault_proxy.py

work=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
export GOPROXY=off GOFLAGS=-modcacherw
export LADE_CACHE_DIR=$work/cache

ACCEPT='application/vnd.oci.image.index.v1+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.docker.distribution.manifest.v2+json'

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_port PORT PID: until something listens on PORT, failing if PID exits first.
wait_port() {
  local i
  for i in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "reliability.sh: process $2 exited before listening on port $1" >&2; return 1; }
    sleep 0.05
  done
  echo "reliability.sh: nothing listens on port $1 after 15 s" >&2
  return 1
}

stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }

# start_registry DIR: sets REG (host:port), REG_PID, REG_DATA.
start_registry() {
  local d=$1 port
  mkdir -p "$d/data"
  port=$(free_port)
  cat >"$d/config.yml" <<EOF
version: 0.1
storage:
  filesystem:
    rootdirectory: $d/data
http:
  addr: 127.0.0.1:$port
EOF
  docker-registry serve "$d/config.yml" >"$d/registry.log" 2>&1 &
  REG_PID=$!
  pids+=("$REG_PID")
  wait_port "$port" "$REG_PID" || { cat "$d/registry.log" >&2; exit 1; }
  REG=127.0.0.1:$port
  REG_DATA=$d/data
}

# start_proxy DIR FLAGS...: the fault proxy in front of $REG; sets PX, PX_PID, PX_LOG.
start_proxy() {
  local d=$1 port
  shift
  port=$(free_port)
  PX_LOG=$d/faults.log
  : >"$PX_LOG"
  python3 "$PROXY" --port "$port" --upstream "$REG" --log "$PX_LOG" "$@" >"$d/proxy.out" 2>&1 &
  PX_PID=$!
  pids+=("$PX_PID")
  wait_port "$port" "$PX_PID" || { cat "$d/proxy.out" >&2; exit 1; }
  PX=127.0.0.1:$port
}

sha() { sha256sum | cut -d' ' -f1 | sed 's/^/sha256:/'; }

# verified HOST REPO TAG DIGEST: the tag, read directly, has DIGEST, and skopeo reads it.
verified() {
  local got raw
  got=$(curl -fsS -H "Accept: $ACCEPT" "http://$1/v2/$2/manifests/$3" | sha) || return 1
  [ "$got" = "$4" ] || return 1
  raw=$(skopeo inspect --raw --tls-verify=false "docker://$1/$2:$3" | sha) || return 1
  [ "$raw" = "$4" ]
}

# blobs_of HOST REPO REF: every blob digest (configs and layers) of the manifest or index REF,
# one a line; fails if a manifest the index lists is missing.
blobs_of() {
  local doc child
  doc=$(curl -fsS -H "Accept: $ACCEPT" "http://$1/v2/$2/manifests/$3") || return 1
  if jq -e '.manifests' <<<"$doc" >/dev/null; then
    for child in $(jq -r '.manifests[].digest' <<<"$doc"); do
      blobs_of "$1" "$2" "$child" || return 1
    done
  else
    jq -r '.config.digest, .layers[].digest' <<<"$doc"
  fi
}

# complete HOST REPO TAG: the tag names a manifest whose every blob the registry has.
complete() {
  local list b
  list=$(blobs_of "$1" "$2" "$3") || return 1
  for b in $list; do
    [ "$(curl -s -o /dev/null -w '%{http_code}' -I "http://$1/v2/$2/blobs/$b")" = 200 ] || return 1
  done
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

app=$work/app
cp -r examples/go-hello "$app"
"$LADE" publish -q -C "$app" --platform "$PLATFORMS" --to "oci:$work/warm" >/dev/null

fault_rows=()
if want faults; then
# --- 1. faults -------------------------------------------------------------------------------
# name|proxy flags|extra environment
faults=(
  "503 with Retry-After: 1 on the first upload start|--upload-503|"
  "429 with Retry-After: 1 on the first blob HEAD|--head-429|"
  "connection reset after 256 KiB of the first large blob PUT|--reset-put 262144|"
  "502 on the first manifest PUT|--manifest-502|"
  "405 on every monolithic blob PUT (always)|--refuse-monolithic|"
  "200 ms added to every request|--latency 200|"
  "first manifest PUT never answered, LADE_REGISTRY_TIMEOUT=2|--hang-manifest-put 1|LADE_REGISTRY_TIMEOUT=2"
)
fault_rows=()
k=0
for f in "${faults[@]}"; do
  IFS='|' read -r name flags extra <<<"$f"
  k=$((k + 1))
  ok=0 good=0 fired=0 retries=0
  times=()
  for i in $(seq "$RUNS"); do
    d=$work/f$k-$i
    mkdir -p "$d"
    start_registry "$d"
    # shellcheck disable=SC2086
    start_proxy "$d" $flags
    tag=f$k-$i
    s=$(date +%s.%N)
    rc=0
    # shellcheck disable=SC2086
    env $extra "$LADE" publish --json -C "$app" --platform "$PLATFORMS" --to "$PX/rel/app:$tag" \
      >"$d/out.json" 2>"$d/err" || rc=$?
    e=$(date +%s.%N)
    times+=("$(awk "BEGIN { printf \"%.1f\", $e - $s }")")
    if [ "$rc" = 0 ]; then
      ok=$((ok + 1))
      digest=$(jq -r .digest "$d/out.json")
      retries=$((retries + $(jq '[.outputs[].stats.retries // 0] | add' "$d/out.json")))
      if verified "$REG" rel/app "$tag" "$digest"; then good=$((good + 1)); fi
    else
      echo "fault \"$name\" run $i: exit $rc: $(tail -n 3 "$d/err")" >&2
    fi
    [ -s "$PX_LOG" ] && fired=$((fired + 1))
    stop "$PX_PID"
    stop "$REG_PID"
  done
  t=$(printf '%s\n' "${times[@]}" | median)
  fault_rows+=("| $name | $RUNS | $fired | $ok | $good | $retries | ${t} s |")
done

fi

kill_rows=()
mid_upload=0 finished_early=0 absent=0 complete_tags=0 incomplete=0 republish_ok=0 over=0 total_up=0 total_missing=0
if want kills; then
# --- 2. kills --------------------------------------------------------------------------------
kapp=$work/kill-app
cp -r examples/go-hello "$kapp"
mkdir -p "$work/kreg"
start_registry "$work/kreg"
killreg_pid=$REG_PID
# The killed publishes go through the proxy with KILL_LATENCY ms added to every request, so a
# push lasts seconds and a kill lands in it; tags are read and the republish made directly.
start_proxy "$work/kreg" --latency "$KILL_LATENCY"
killpx_pid=$PX_PID
layers_dir=$REG_DATA/docker/registry/v2/repositories/rel/kill/_layers/sha256
# Blobs the repository has (none before its first push: ls fails, which pipefail would end the script on).
count_blobs() { { ls "$layers_dir" 2>/dev/null || true; } | wc -l; }
kill_rows=()
mid_upload=0 finished_early=0 absent=0 complete_tags=0 incomplete=0 republish_ok=0 over=0 total_up=0 total_missing=0
for i in $(seq "$KILLS"); do
  head -c $((KILL_MIB << 20)) /dev/urandom >"$kapp/kodata/big.bin"
  before_kill=$(count_blobs)
  "$LADE" publish --json -C "$kapp" --platform "$PLATFORMS" --to "$PX/rel/kill:k$i" \
    >"$work/k$i.json" 2>"$work/k$i.err" &
  lp=$!
  if [ $((i % 2)) = 1 ]; then
    delay=$(python3 -c 'import random; print(f"{random.uniform(0.1, 3.0):.2f}")')
    when="${delay} s"
    sleep "$delay"
  else
    # Until a blob of this run is committed (60 s at most), then a little more.
    for _ in $(seq 3000); do
      [ "$(count_blobs)" -gt "$before_kill" ] && break
      kill -0 "$lp" 2>/dev/null || break
      sleep 0.02
    done
    delay=$(python3 -c 'import random; print(f"{random.uniform(0.0, 0.3):.2f}")')
    when="first blob + ${delay} s"
    sleep "$delay"
  fi
  if kill -9 "$lp" 2>/dev/null; then state=killed; else state=finished; finished_early=$((finished_early + 1)); fi
  at_kill=$(( $(count_blobs) - before_kill ))
  [ "$at_kill" -gt 0 ] && mid_upload=$((mid_upload + 1))
  wait "$lp" 2>/dev/null || true
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Accept: $ACCEPT" "http://$REG/v2/rel/kill/manifests/k$i")
  if [ "$code" = 404 ]; then
    tagstate=absent
    absent=$((absent + 1))
  elif [ "$code" = 200 ] && complete "$REG" rel/kill "k$i"; then
    tagstate=complete
    complete_tags=$((complete_tags + 1))
  else
    tagstate="INCOMPLETE ($code)"
    incomplete=$((incomplete + 1))
  fi
  before=$(ls "$layers_dir" 2>/dev/null | sort || true)
  rc=0
  "$LADE" publish --json -C "$kapp" --platform "$PLATFORMS" --to "$REG/rel/kill:k$i" \
    >"$work/r$i.json" 2>"$work/r$i.err" || rc=$?
  up=- missing=-
  if [ "$rc" = 0 ] && verified "$REG" rel/kill "k$i" "$(jq -r .digest "$work/r$i.json")"; then
    republish_ok=$((republish_ok + 1))
    up=$(jq '[.outputs[].stats.blobs_uploaded // 0] | add' "$work/r$i.json")
    # Blobs of the image the repository did not have before the second publish.
    missing=$(comm -13 <(printf '%s\n' "$before" | sed '/^$/d') \
      <(blobs_of "$REG" rel/kill "k$i" | sed 's/^sha256://' | sort -u) | wc -l)
    total_up=$((total_up + up))
    total_missing=$((total_missing + missing))
    [ "$up" -le "$missing" ] || over=$((over + 1))
  else
    echo "kill $i: publishing again failed (exit $rc): $(tail -n 3 "$work/r$i.err")" >&2
  fi
  kill_rows+=("| $i | $when | $state | $at_kill | $tagstate | $missing | $up |")
done
stop "$killpx_pid"
stop "$killreg_pid"

fi

rows=0 bad=skipped bad_tests=
if want bad; then
# --- 3. bad inputs ---------------------------------------------------------------------------
table=tests/integration/bad_inputs_table.rs
rows=$(sed -n '/let rows: Vec<Row> = vec!\[/,/^    \];/p' "$table" | grep -oE '(Row::new|publish|publish_to)\(' | wc -l)
if cargo test --release --quiet --test integration bad_inputs_table >"$work/bad.log" 2>&1; then
  bad="passed"
else
  bad="FAILED"
  tail -n 30 "$work/bad.log" >&2
fi
bad_tests=$(grep -oE 'test result: [a-z]+\. [0-9]+ passed; [0-9]+ failed' "$work/bad.log" | head -n1 || true)

fi

# --- report ----------------------------------------------------------------------------------
cat <<OUT
machine: $(nproc) cores, $(uname -m); $(date -u +%Y-%m-%d); lade $("$LADE" --version | cut -d' ' -f2)
command: SECTIONS="$SECTIONS" RUNS=$RUNS KILLS=$KILLS KILL_MIB=$KILL_MIB KILL_LATENCY=$KILL_LATENCY ./scripts/reliability.sh
OUT
if want faults; then
cat <<OUT

### Faults (go-hello, $PLATFORMS, warm cache, fresh registry and proxy per run)
| fault | runs | fault injected | exit 0 | digest verified | retries reported | median time |
|---|---|---|---|---|---|---|
$(printf '%s\n' "${fault_rows[@]}")
OUT
fi
if want kills; then
cat <<OUT

### SIGKILL during publish ($KILL_MIB MiB random kodata file, $KILL_LATENCY ms per request; odd kills after 0.1-3 s, even ones just after the run's first blob landed)
| kill | when | lade | blobs of the run already in the registry | tag after kill | blobs missing | blobs uploaded again |
|---|---|---|---|---|---|---|
$(printf '%s\n' "${kill_rows[@]}")

kills: $KILLS ($finished_early finished before the signal, $mid_upload landed after some of the run's blobs were uploaded); tags absent: $absent, complete: $complete_tags, incomplete: $incomplete
publishing again: $republish_ok/$KILLS verified; blobs uploaded $total_up, blobs missing $total_missing; runs that uploaded more than was missing: $over
OUT
fi
if want bad; then
cat <<OUT

### Bad inputs
cargo test --release --test integration bad_inputs_table: $rows rows, $bad ($bad_tests)
OUT
fi
