#!/usr/bin/env bash
# Configures and builds medic with Ninja. Usage: scripts/build.sh [BUILD_DIR] [cmake args...]
# Re-running is cheap: CMake reconfigures only when needed and ccache keeps objects.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
shift || true
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DMEDIC_WERROR=ON "$@" >/dev/null
elif [ $# -gt 0 ]; then
  cmake -S "$root" -B "$build" "$@" >/dev/null
fi
cmake --build "$build" -j "$(nproc)"
