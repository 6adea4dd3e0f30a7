#!/usr/bin/env bash
# Java benchmarks for BENCHMARKS.md. Run: ./scripts/bench-java.sh  (needs Maven and Debian's
# Maven repository; ./scripts/install-deps.sh installs them). examples/java-maven for
# linux/amd64+linux/arm64 on a Java base built once beforehand (`lade base build java`), so
# the numbers are lade's and Maven's, not the base's. Median of RUNS runs of the release binary.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
# LADE=PATH times a given binary; else the release build of this checkout.
if [ -z "${LADE:-}" ]; then
  cargo build --release --quiet
  LADE=${CARGO_TARGET_DIR:-$PWD/target}/release/lade
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); awk "BEGIN { printf \"%.2f\\n\", $e - $s }"; }

plat=linux/amd64,linux/arm64
LADE_CACHE_DIR=$work/base-cache "$LADE" base build java -q --platform $plat --to "oci:$work/base:java17" >/dev/null
base="oci:$work/base:java17"
cp -r examples/java-maven "$work/app"
publish() { LADE_CACHE_DIR=$work/cache timeit "$LADE" publish -q -C "$work/app" --platform $plat --base "$base" --to "oci:$work/out" "$@"; }

# 1. Cold: empty lade cache (Maven's local repository stays warm: it only mirrors files).
cold=$(for i in $(seq "$RUNS"); do rm -rf "$work/cache" "$work/out"; publish; done | median)

# 2. Warm, unchanged source: the staged copy matches, Maven is not run, every layer reused.
warm=$(for i in $(seq "$RUNS"); do publish; done | median)
# The same without attaching SBOMs and provenance: what the attachments cost.
bare=$(for i in $(seq "$RUNS"); do publish --no-attach; done | median)

# 3. One class changed: Maven builds again, only the classes layer is rewritten.
edit=$(for i in $(seq "$RUNS"); do
  sed -i "s/\"hello[ 0-9]* from maven\"/\"hello $i from maven\"/" "$work/app/src/main/java/com/example/Server.java"
  publish
done | median)

# 4. The build alone, for comparison: mvn package in a copy, as lade runs it.
cp -r examples/java-maven "$work/mvn"
mvn_only=$(for i in $(seq "$RUNS"); do
  (cd "$work/mvn" && timeit mvn -B -q -DskipTests package)
done | median)

cat <<OUT
machine: $(nproc) cores, $(uname -m), $(mvn -v 2>/dev/null | head -1 | sed 's/\x1b\[[0-9;]*m//g')
java-maven, linux/amd64+linux/arm64, OCI layout output (median of $RUNS):
  cold (empty lade cache)           ${cold}s
  warm, unchanged (build skipped)   ${warm}s
  the same with --no-attach         ${bare}s
  one class changed                 ${edit}s
  mvn -q -DskipTests package alone  ${mvn_only}s
OUT
