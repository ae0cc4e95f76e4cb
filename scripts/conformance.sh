#!/usr/bin/env bash
# medic against Hermes's real Kanban dispatcher and worker tools.
#
#   scripts/conformance.sh HERMES_SRC [variant...]     variants: observe trailer wal rotate act
#                                                      (default: the first four; act only when named)
# HERMES_SRC is a Hermes Agent source tree (the directory holding hermes_cli/kanban_db.py).
# $MEDIC names the medic binary (default ./build/medic, from the project root); $PYTHON the
# interpreter that has Hermes's Python dependencies (default /usr/bin/python3 when it exists);
# $MEDIC_CONFORMANCE_OUT the results dir (default a new dir under $TMPDIR).
#
# Per variant: a fresh Hermes root, `medic run` on it, a subscriber on medic's socket, then
# Hermes's own dispatcher tick over the 12 scenarios on two boards (scripts/hermes_conformance.py,
# workers: scripts/hermes_fake_worker.py), medic stopped with SIGTERM, and the analysis:
# PASS/FAIL per check, the exit-to-decision latency per exit path, one SUMMARY line.
#
# act: `medic act` live, applying the decisions through Hermes's real `hermes` CLI
# (scripts/hermes_cli.sh), against Hermes's dispatcher at the gateway's production tick of
# 60 s and its default 300 s rate-limit cooldown (crash grace 0).  Two phases, each on a fresh
# root with its own `medic run` and `medic act`: main (a Codex 429 naming resets_at = now+75,
# rc=0: parked by act, released at resets_at; a parent whose worker wrote every artifact but
# made no Kanban call (max_retries 1: Hermes's breaker stops it), and its child: act waits for
# Hermes to end the parent's run, then completes the parent and dispatches the child) and
# fallback (`--config` with policy.fallback_providers {openai-codex: [{provider: xai, model:
# grok-4.3}]}: act's set-model, and the next run's -m/--provider).  A recorder polls both boards
# every 20 ms for event times in ms.  Hermes's CLI runs with its bytecode cached (under the
# results dir), as an installed Hermes has it.  About 3-4 minutes.
# Exit 1 when any check failed, 2 on bad usage.
set -u
here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 HERMES_SRC [observe|trailer|wal|rotate|act]..." >&2; exit 2; }
src=$(cd "$1" 2>/dev/null && pwd) || { echo "no directory $1" >&2; exit 2; }
shift
[ -f "$src/hermes_cli/kanban_db.py" ] || { echo "$src is not a Hermes source tree (no hermes_cli/kanban_db.py)" >&2; exit 2; }
[ $# -ge 1 ] || set -- observe trailer wal rotate
for v in "$@"; do
  case $v in observe|trailer|wal|rotate|act) ;; *) echo "unknown variant $v" >&2; exit 2 ;; esac
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

# ---- act: medic act through the real `hermes` CLI, Hermes's dispatcher every 60 s
hermes_cli="$here/hermes_cli.sh"

act_phase() {  # phase [medic config]
  local ph=$1 cfg=${2:-} w="$out/act/$1"
  rm -rf "$w"; mkdir -p "$w/state"
  "${pyc[@]}" "${drv[@]}" setup --hermes-src "$src" --work "$w" --variant act >"$w/setup.out" 2>"$w/setup.err" \
    || { echo "  $ph: setup failed:"; tail -5 "$w/setup.err"; return 1; }
  local sock="$w/state/medic.sock"
  MEDIC_LOG_LEVEL=${MEDIC_LOG_LEVEL:-info} "$MEDIC_BIN" run --hermes-root "$w/root" --state-dir "$w/state" \
    --socket "$sock" ${cfg:+--config "$cfg"} 2>"$w/medic.log" &
  local medic_pid=$!; pids+=("$medic_pid")
  for _ in $(seq 100); do [ -S "$sock" ] && break; kill -0 "$medic_pid" 2>/dev/null || break; sleep 0.1; done
  [ -S "$sock" ] || { echo "  $ph: medic's socket did not appear:"; tail -5 "$w/medic.log"; stop_all; return 1; }
  "${drv[@]}" subscribe "$sock" "$w/decisions.ndjson" 2>"$w/subscribe.err" &
  local sub_pid=$!; pids+=("$sub_pid")
  "${pyc[@]}" "${drv[@]}" record --hermes-src "$src" --work "$w" --out "$w/events.ndjson" 2>"$w/record.err" &
  local rec_pid=$!; pids+=("$rec_pid")
  # act's `hermes` calls see the Hermes root and the worker setup the dispatcher sees: its
  # `dispatch` spawns workers too.
  local act_args=(--socket "$sock" --hermes "$hermes_cli" --state-dir "$w/act-state")
  [ -n "$cfg" ] && [ "$act_config" = 1 ] && act_args+=(--config "$cfg")
  env -u HERMES_KANBAN_HOME -u HERMES_KANBAN_BOARD -u HERMES_KANBAN_DB -u HERMES_KANBAN_TASK \
    -u HERMES_KANBAN_RATE_LIMIT_COOLDOWN_SECONDS -u PYTHONDONTWRITEBYTECODE \
    PYTHONPYCACHEPREFIX="$out/act/pycache" PYTHON="$PYTHON" HERMES_SRC="$src" HERMES_HOME="$w/root" \
    HERMES_BIN="$w/bin/hermes" HERMES_KANBAN_CRASH_GRACE_SECONDS=0 MEDIC_TRAILER=0 \
    MEDIC_FAKE_PLAN="$w/plan.json" MEDIC_FAKE_EXITS="$w/exits.ndjson" MEDIC_FAKE_STARTS="$w/starts.ndjson" \
    MEDIC_LOG_LEVEL="${MEDIC_LOG_LEVEL:-info}" "$MEDIC_BIN" act "${act_args[@]}" 2>"$w/act.log" &
  local act_pid=$!; pids+=("$act_pid")
  for _ in $(seq 100); do grep -q 'subscribed since=' "$w/act.log" 2>/dev/null && break
                         kill -0 "$act_pid" 2>/dev/null || break; sleep 0.1; done
  grep -q 'subscribed since=' "$w/act.log" || { echo "  $ph: medic act did not subscribe:"; tail -5 "$w/act.log"; stop_all; return 1; }
  "${pyc[@]}" "${drv[@]}" act-drive --hermes-src "$src" --work "$w" --phase "$ph" --tick-s 60 \
    --run-s "$3" >"$w/drive.out" 2>"$w/drive.err"
  local drive_rc=$?
  echo "  $ph: $(head -1 "$w/drive.out"); $(tail -1 "$w/drive.out")"
  [ $drive_rc = 0 ] || { echo "  $ph: the dispatcher driver failed (exit $drive_rc):"; tail -5 "$w/drive.err" | sed 's/^/  /'; }
  sleep 2  # act's last commands, medic's last decisions
  kill -TERM "$act_pid" 2>/dev/null; wait "$act_pid"; echo $? >"$w/act.rc"
  kill -TERM "$medic_pid" 2>/dev/null; wait "$medic_pid"; echo $? >"$w/medic.rc"
  kill -TERM "$rec_pid" 2>/dev/null; wait "$rec_pid" 2>/dev/null
  for _ in $(seq 50); do kill -0 "$sub_pid" 2>/dev/null || break; sleep 0.1; done
  kill "$sub_pid" 2>/dev/null; wait "$sub_pid" 2>/dev/null
  pids=()
  echo "  $ph: $(sed -n 's/.* info \(act stopped .*\)/medic \1/p' "$w/act.log" | tail -1); medic exit $(cat "$w/medic.rc"); $(grep -ci ' warn\| error\| critical' "$w/medic.log") medic warn/error line(s)"
  return $drive_rc
}

act_variant() {
  local w="$out/act" rc=0
  rm -rf "$w"; mkdir -p "$w"
  echo "=== act  ($w)"
  pyc=(env -u PYTHONDONTWRITEBYTECODE "PYTHONPYCACHEPREFIX=$w/pycache")
  # `medic act --config` when this medic has it (the decision names the fallback's model)
  act_config=0
  "$MEDIC_BIN" act --help 2>/dev/null | grep -q -- '--config' && act_config=1
  [ $act_config = 1 ] || echo "  note: this medic act has no --config; the fallback config goes to medic run only"
  # Warm Hermes's bytecode cache (one CLI call on a scratch root) before anything is timed.
  mkdir -p "$w/warm-root"
  "${pyc[@]}" PYTHON="$PYTHON" HERMES_SRC="$src" HERMES_HOME="$w/warm-root" "$hermes_cli" kanban list >/dev/null 2>&1
  act_phase main "" 180 || rc=1
  printf 'policy:\n  fallback_providers: {openai-codex: [{provider: xai, model: grok-4.3}]}\n' >"$w/medic-fallback.yaml"
  act_phase fallback "$w/medic-fallback.yaml" 130 || rc=1
  "${drv[@]}" act-analyze --work "$w" --hermes "$hermes_cli" >"$w/analysis.txt" 2>&1 || rc=1
  grep -v '^SUMMARY' "$w/analysis.txt" | sed 's/^/  /'
  grep '^SUMMARY' "$w/analysis.txt" || { echo "SUMMARY act: FAIL (no analysis; see $w/analysis.txt)"; rc=1; }
  return $rc
}

status=0
for v in "$@"; do
  if [ "$v" = act ]; then act_variant || status=1; else variant "$v" || status=1; fi
done
echo "results: $out"
exit $status
