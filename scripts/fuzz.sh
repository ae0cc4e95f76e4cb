#!/usr/bin/env bash
# Fuzzes medic's parsers with libFuzzer (clang 14, ASan+UBSan): builds build-fuzz/ and runs
# each target for SECONDS (default 600) on a copy of its committed corpus, one at a time
# (1 core). Crashes land in build-fuzz/artifacts/<target>/ and fail the script.
#
#   scripts/fuzz.sh [--merge] [SECONDS] [TARGET...]
#
# --merge adds to tests/fuzz/corpus/<target>/ the inputs that reached new coverage (libFuzzer
# -merge=1), so CI replays them (ctest -L fuzz). Targets: tests/fuzz/CMakeLists.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

merge=0
if [ "${1:-}" = "--merge" ]; then merge=1; shift; fi
seconds=${1:-600}
[ $# -gt 0 ] && shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(rule_reader field_value payload line_framer request decision_codec checkpoint journal)
fi

scripts/setup.sh --fuzz
if [ ! -f build-fuzz/build.ninja ]; then
  CC=clang-14 CXX=clang++-14 cmake -S . -B build-fuzz -G Ninja -DMEDIC_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build build-fuzz -j2 --target "${targets[@]/#/fuzz_}"

status=0
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t
  artifacts=build-fuzz/artifacts/$t
  mkdir -p "$work" "$artifacts"
  cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  log=build-fuzz/$t.log
  echo "== $t (${seconds}s)"
  if ! build-fuzz/tests/fuzz/fuzz_"$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts"/ "$work" >"$log" 2>&1; then
    status=1
    echo "   CRASH: see $log and $artifacts/"
  fi
  execs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
  cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+' || true)
  echo "   executions=${execs:-?} ${cov} crashes=$(find "$artifacts" -type f | wc -l)"
  if [ $merge -eq 1 ]; then
    before=$(find tests/fuzz/corpus/"$t" -type f | wc -l)
    build-fuzz/tests/fuzz/fuzz_"$t" -merge=1 -timeout=10 tests/fuzz/corpus/"$t" "$work" >/dev/null 2>&1
    after=$(find tests/fuzz/corpus/"$t" -type f | wc -l)
    echo "   merged into tests/fuzz/corpus/$t: $before -> $after seeds"
  fi
done
exit $status
