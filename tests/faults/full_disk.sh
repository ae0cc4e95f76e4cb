#!/usr/bin/env bash
# Issue 11 item 1: a full state disk leaves a torn journal line; once space returns medic
# starts again (the torn tail cut off, kept aside, logged) and its seq goes on gap-free.
# Needs root (a small tmpfs is mounted for the state dir). Usage: tests/faults/full_disk.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
state=$(mktemp -d /tmp/medic-fulldisk-XXXXXX)
mount -t tmpfs -o size=256k tmpfs "$state"
trap 'umount "$state" 2>/dev/null; rmdir "$state"' EXIT
HERE="$here" python3 "$here/full_disk.py" "$state"
