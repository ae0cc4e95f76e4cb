#!/usr/bin/env bash
# Builds the Debian package (CPack) and checks it: the files an operator relies on are
# in it, /etc/medic/medic.yaml is a conffile, and the packaged binary, unpacked, finds
# its installed rules (<prefix>/share/medic/rules) rather than the built-in copy.
# Usage: scripts/package.sh [BUILD_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
"$root/scripts/build.sh" "$build" >/dev/null
(cd "$build" && rm -f medic_*.deb && cpack -G DEB >/dev/null)
deb=$(ls "$build"/medic_*.deb)
echo "package: $deb"
contents=$(dpkg-deb -c "$deb" | awk '{print $6}')
for path in ./usr/bin/medic ./etc/medic/medic.yaml ./usr/lib/systemd/system/medic.service \
            ./usr/lib/systemd/user/medic.service ./usr/share/medic/rules/rate_limit.yaml \
            ./usr/share/doc/medic/README.md; do
  grep -qx "$path" <<<"$contents" || { echo "missing in the package: $path" >&2; exit 1; }
done
dpkg-deb --ctrl-tarfile "$deb" | tar -xO ./conffiles | grep -qx /etc/medic/medic.yaml \
  || { echo "/etc/medic/medic.yaml is not a conffile" >&2; exit 1; }
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
dpkg-deb -x "$deb" "$unpacked"
out=$(MEDIC_CACHE_DIR= "$unpacked/usr/bin/medic" rules check)
grep -q "^$unpacked/usr/share/medic/rules: .* rules OK" <<<"$out" \
  || { echo "the packaged binary did not use its installed rules: $out" >&2; exit 1; }
echo "package ok: $(grep -c . <<<"$contents") entries; $out"
