#!/usr/bin/env bash
# medic against Hermes's real Kanban dispatcher and worker tools.
#
#   scripts/conformance.sh HERMES_SRC [variant...]     variants: observe trailer wal rotate
#                                                      (default: all four)
# HERMES_SRC is a Hermes Agent source tree (the directory holding hermes_cli/kanban_db.py).
# $MEDIC names the medic binary (default ./build/medic, from the project root); $PYTHON the
# interpreter that has Hermes's Python dependencies (default /usr/bin/python3 when it exists);
# $MEDIC_CONFORMANCE_OUT the results dir (default a new dir under $TMPDIR).
#
# Per variant: a fresh Hermes root, `medic run` on it, a subscriber on medic's socket, then
# Hermes's own dispatcher tick over the 12 scenarios on two boards (scripts/hermes_conformance.py,
# workers: scripts/hermes_fake_worker.py), medic stopped with SIGTERM, and the analysis:
# PASS/FAIL per check, the exit-to-decision latency per exit path, one SUMMARY line.
# Exit 1 when any check failed, 2 on bad usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 HERMES_SRC [observe|trailer|wal|rotate]..." >&2; exit 2; }
src=$(cd "$1" 2>/dev/null && pwd) || { echo "no directory $1" >&2; exit 2; }
shift
[ -f "$src/hermes_cli/kanban_db.py" ] || { echo "$src is not a Hermes source tree (no hermes_cli/kanban_db.py)" >&2; exit 2; }
[ $# -ge 1 ] || set -- observe trailer wal rotate
for v in "$@"; do
  case $v in observe|trailer|wal|rotate) ;; *) echo "unknown variant $v" >&2; exit 2 ;; esac
done
if [ -z "${PYTHON:-}" ]; then
  if [ -x /usr/bin/python3 ]; then PYTHON=/usr/bin/python3; else PYTHON=python3; fi
fi
PYTHONPATH="$src${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" -c 'import hermes_cli.kanban_db' 2>/dev/null \
  || { echo "$PYTHON cannot import hermes_cli.kanban_db from $src (install Hermes's Python dependencies, or set PYTHON)" >&2; exit 2; }
medic_src=${MEDIC:-./build/medic}
[ -x "$medic_src" ] || { echo "no medic binary at $medic_src (build it, or set MEDIC)" >&2; exit 2; }
out=${MEDIC_CONFORMANCE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/medic-conformance.XXXXXX")}
mkdir -p "$out"
# A private copy: a rebuild during the run must not swap the binary under a variant.
cp "$medic_src" "$out/medic"
MEDIC_BIN="$out/medic"
drv=("$PYTHON" "$here/hermes_conformance.py")

pids=()
stop_all() { local p; for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
             for p in "${pids[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null; done; pids=(); }
trap stop_all EXIT
trap 'exit 130' INT TERM

variant() {
  local v=$1 w="$out/$1"
  rm -rf "$w"; mkdir -p "$w/state"
  echo "=== $v  ($w)"
  "${drv[@]}" setup --hermes-src "$src" --work "$w" --variant "$v" >"$w/setup.out" 2>"$w/setup.err" \
    || { echo "setup failed:"; tail -5 "$w/setup.err"; return 1; }
  sed 's/^/  /' "$w/setup.out"
  local sock="$w/state/medic.sock"
  MEDIC_LOG_LEVEL=${MEDIC_LOG_LEVEL:-info} "$MEDIC_BIN" run --hermes-root "$w/root" --state-dir "$w/state" \
    --socket "$sock" 2>"$w/medic.log" &
  local medic_pid=$!; pids+=("$medic_pid")
  for _ in $(seq 100); do [ -S "$sock" ] && break; kill -0 "$medic_pid" 2>/dev/null || break; sleep 0.1; done
  [ -S "$sock" ] || { echo "medic's socket did not appear:"; tail -5 "$w/medic.log"; stop_all; return 1; }
  "${drv[@]}" subscribe "$sock" "$w/decisions.ndjson" 2>"$w/subscribe.err" &
  local sub_pid=$!; pids+=("$sub_pid")
  "${drv[@]}" drive --hermes-src "$src" --work "$w" --variant "$v" >"$w/drive.out" 2>"$w/drive.err"
  local drive_rc=$?
  echo "  $(tail -1 "$w/drive.out")"
  [ $drive_rc = 0 ] || { echo "  the dispatcher driver failed (exit $drive_rc):"; tail -5 "$w/drive.err" | sed 's/^/  /'; }
  sleep 2  # decisions on the last exits
  kill -TERM "$medic_pid" 2>/dev/null
  wait "$medic_pid"; local medic_rc=$?
  for _ in $(seq 50); do kill -0 "$sub_pid" 2>/dev/null || break; sleep 0.1; done
  kill "$sub_pid" 2>/dev/null; wait "$sub_pid" 2>/dev/null
  pids=()
  "${drv[@]}" analyze --work "$w" --variant "$v" --medic-rc "$medic_rc" >"$w/analysis.txt" 2>&1
  local rc=$?
  [ $drive_rc = 0 ] || rc=1
  grep -E '^  (FAIL|note:) ' "$w/analysis.txt"
  sed -n '/exit-to-decision latency/,/^$/p' "$w/analysis.txt"
  echo "  medic log: $(grep -ci ' warn\| error\| critical' "$w/medic.log") warn/error line(s); $(sed -n 's/.* stopped //p' "$w/medic.log" | tail -1)"
  sed -n 's/.* info \(exits decided by .*\)/  medic: \1/p' "$w/medic.log" | tail -1
  [ "$medic_rc" = 0 ] || { echo "  medic exited $medic_rc; its log ends:"; tail -3 "$w/medic.log" | sed 's/^/    /'; }
  grep '^SUMMARY' "$w/analysis.txt" || echo "SUMMARY $v: FAIL (no analysis; see $w/analysis.txt)"
  return $rc
}

status=0
for v in "$@"; do variant "$v" || status=1; done
echo "results: $out"
exit $status
