# Sourced by the benchmark scripts that time lade against a peer: interleaved A/B pairs and
# their medians. Needs `$work` (a scratch directory) and `$RUNS`.

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
# Seconds `"$@"` takes, output discarded; a failing command stops the benchmark.
timeit() {
  local s e
  s=$(now)
  "$@" >/dev/null 2>"$work/last.err" || { cat "$work/last.err" >&2; exit 1; }
  e=$(now)
  awk "BEGIN { printf \"%.3f\\n\", $e - $s }"
}
# peer time / lade time: above 1, lade is faster.
ratio() { awk "BEGIN { printf \"%.2f\", $2 / $1 }"; }

# Runs the two timed commands RUNS times in turn (`a_cmd`, then `b_cmd`, each a shell
# function given the run's number), leaving the medians in $A and $B. $BEFORE_EACH, when set,
# is run untimed before each command, in this shell (a timed command runs in a subshell: what
# it starts in the background this shell would not know of, nor stop).
pairs() {
  local a=() b=()
  for i in $(seq "$RUNS"); do
    ${BEFORE_EACH:-}
    a+=("$(timeit "$1" "$i")")
    ${BEFORE_EACH:-}
    b+=("$(timeit "$2" "$i")")
  done
  A=$(printf '%s\n' "${a[@]}" | median)
  B=$(printf '%s\n' "${b[@]}" | median)
}
