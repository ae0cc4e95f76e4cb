#!/usr/bin/env bash
# The README's first command: install what is missing, build, run `medic demo`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
"$root/scripts/setup.sh"
"$root/scripts/build.sh" "$root/build" >/dev/null
exec "$root/build/medic" demo "$@"
