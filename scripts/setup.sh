#!/usr/bin/env bash
# Installs the Debian packages medic's build, tests and benchmarks need.
# Idempotent: when every package is already installed it returns in well under a second
# without touching apt. Usage: scripts/setup.sh [--bench] [--browser] [--lint] [--fuzz]
set -euo pipefail

packages=(
  g++ cmake ninja-build pkg-config ccache
  libuv1-dev libhyperscan-dev libpcre2-dev libsimdjson-dev libsqlite3-dev
  libspdlog-dev libfmt-dev libyaml-cpp-dev libcli11-dev libexpected-dev libhowardhinnant-date-dev tzdata
  libgtest-dev libgmock-dev libbenchmark-dev libclang-rt-14-dev
  python3 sqlite3 dpkg-dev
)
for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(ripgrep grep) ;;
    --browser) packages+=(chromium) ;;
    --lint) packages+=(clang-format clang-tidy git) ;;
    --fuzz) packages+=(clang-14 libclang-rt-14-dev) ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
