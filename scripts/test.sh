#!/usr/bin/env bash
# The README's second command: install what is missing, build (warnings are errors), run
# every test (ctest: unit + integration), then check and self-test the shipped rules.
# Usage: scripts/test.sh [--sanitize]   (--sanitize: ASan+UBSan build in build-asan/)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="$root/build"
extra=()
if [ "${1:-}" = "--sanitize" ]; then
  build="$root/build-asan"
  extra=(-DMEDIC_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMEDIC_BUILD_BENCH=OFF)
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi
"$root/scripts/setup.sh" --browser  # Chromium checks the HTML state report
"$root/scripts/build.sh" "$build" "${extra[@]}"
"$build/medic" rules check "$root/rules"
"$build/medic" rules test "$root/rules"
cd "$build"
ctest --output-on-failure -j "$(nproc)"
