#!/usr/bin/env bash
# Side-by-side throughput of the same signatures: medic scan vs rg vs grep.
#
# One generated file (LogHub lines with real failure lines injected, bench/gen_corpus.py)
# of SIZE_MIB (default 200), the shipped rules exported for rg ((?-u) byte mode) and for
# grep -E by `medic rules export`. Each tool runs as a whole process on the warm file; the
# time is wall clock, best of REPEAT runs (grep, far slower, runs once). The number of
# matching lines is printed for each tool as a check that they did the same work.
#
# usage: bench/scan_vs_grep.sh [BUILD_DIR]
# env: SIZE_MIB, REPEAT, WORK_DIR, RULES_DIR (default: the repository's rules/; another
#      directory, e.g. an older commit's rules, gives a before/after on the same file),
#      GREP=0 to leave out grep (minutes on 200 MiB)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
medic="$build/medic"
size_mib="${SIZE_MIB:-200}"
repeat="${REPEAT:-3}"
work="${WORK_DIR:-$(mktemp -d)}"
rules="${RULES_DIR:-$root/rules}"
run_grep="${GREP:-1}"
data="$work/bench-$size_mib.log"

for tool in rg grep python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (scripts/setup.sh --bench)" >&2; exit 2; }
done
[ -x "$medic" ] || { echo "build medic first: scripts/build.sh" >&2; exit 2; }
[ -f "$data" ] || python3 "$root/bench/gen_corpus.py" "$data" "$size_mib"
"$medic" rules export "$rules" --format rg >"$work/patterns.rg"
"$medic" rules export "$rules" --format grep >"$work/patterns.grep"
cat "$data" >/dev/null  # warm the page cache
bytes=$(stat -c %s "$data")

# best wall time in seconds of N runs of a command; its stdout goes to $work/out.
best_of() {
  local n=$1; shift
  local best=""
  for _ in $(seq "$n"); do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >"$work/out" 2>"$work/err" || true
    t1=$(date +%s%N)
    local dt=$(( t1 - t0 ))
    if [ -z "$best" ] || [ "$dt" -lt "$best" ]; then best=$dt; fi
  done
  echo "$best"
}
mbps() { python3 -c "print(f'{$bytes / ($1 / 1e9) / 1e6:.0f}')"; }

declare -A ns lines
ns[medic]=$(best_of "$repeat" "$medic" scan --rules "$rules" --summary "$data")
lines[medic]=$("$medic" scan --rules "$rules" --json "$data" | python3 -c 'import sys,json; print(len({json.loads(l)["line"] for l in sys.stdin}))')
ns[medic1]=$(best_of "$repeat" "$medic" scan --rules "$rules" --summary --threads 1 "$data")
lines[medic1]=${lines[medic]}
ns[rg]=$(best_of "$repeat" rg -j1 -c -f "$work/patterns.rg" "$data")
lines[rg]=$(cat "$work/out")
tools=(medic medic1 rg)
if [ "$run_grep" != 0 ]; then
  ns[grep]=$(best_of 1 grep -c -E -f "$work/patterns.grep" "$data")
  lines[grep]=$(cat "$work/out")
  tools+=(grep)
fi

printf '\nfile: %s MiB (%s bytes), rules %s: %s rules, %s patterns for rg, %s for grep\n\n' \
  "$size_mib" "$bytes" "$rules" "$(grep -c . "$work/patterns.rg")" "$(wc -l <"$work/patterns.rg")" "$(wc -l <"$work/patterns.grep")"
printf '| tool | command | seconds | MB/s | matching lines | medic is |\n|---|---|---|---|---|---|\n'
for tool in "${tools[@]}"; do
  case $tool in
    medic) cmd="medic scan --summary FILE" ;;
    medic1) cmd="medic scan --summary --threads 1 FILE" ;;
    rg) cmd="rg -j1 -c -f patterns.rg FILE" ;;
    grep) cmd="grep -c -E -f patterns.grep FILE" ;;
  esac
  ratio=$(python3 -c "print(f'{${ns[$tool]} / ${ns[medic]}:.1f}x faster' if '$tool' != 'medic' else '-')")
  printf '| %s | `%s` | %.3f | %s | %s | %s |\n' "$tool" "$cmd" \
    "$(python3 -c "print(${ns[$tool]}/1e9)")" "$(mbps "${ns[$tool]}")" "${lines[$tool]}" "$ratio"
done
