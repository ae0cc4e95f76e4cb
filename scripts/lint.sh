#!/usr/bin/env bash
# STYLE B7: the committed .clang-format and .clang-tidy, checked. Needs a configured build
# (compile_commands.json); scripts/test.sh makes one. Usage: scripts/lint.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
"$root/scripts/setup.sh" --lint
cd "$root"
echo "lint: clang-format" >&2
git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp' | xargs clang-format --dry-run -Werror
echo "lint: clang-tidy (src/)" >&2
git ls-files 'src/*.cpp' | xargs -P "$(nproc)" -n 1 \
  clang-tidy -p "$build" --quiet --extra-arg=-Wno-unknown-warning-option 2>/dev/null
echo "lint: ok" >&2
