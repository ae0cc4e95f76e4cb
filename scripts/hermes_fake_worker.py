#!/usr/bin/env python3
"""The worker process Hermes's real dispatcher launches in medic's conformance runs.

Hermes's ``_default_spawn`` (hermes_cli/kanban_db.py) resolves the worker binary from
``$HERMES_BIN`` and runs ``$HERMES_BIN -p <profile> --cli --accept-hooks ... chat -q
"work kanban task <id>"`` in the task's workspace, with stdout and stderr appended to the
board's ``logs/<task>.log``.  scripts/hermes_conformance.py points ``$HERMES_BIN`` at a small
wrapper that execs this file (so the worker's pid is the pid Hermes records).  The worker
prints the lines Hermes itself prints and, for a terminal Kanban call, calls Hermes's real
worker tools (``tools/kanban_tools._handle_complete`` / ``_handle_block``).

Environment (set by the driver; Hermes passes it through):
  MEDIC_FAKE_PLAN       JSON file: task_id -> list of behaviours, one per attempt; the last
                        one repeats.  Attempts are counted in MEDIC_FAKE_PLAN.attempts/.
  MEDIC_FAKE_EXITS      side file: one JSON line per exit,
                        {"task","run","pid","rc","exit_ns"} (+ "mono_ns", and "signal" when
                        killed), appended just before the exit (before the trailer).
  MEDIC_FAKE_STARTS     side file (optional): one JSON line per start,
                        {"task","run","pid","behaviour","argv","start_ns"}: the argv Hermes's
                        _default_spawn passed (-m MODEL / --provider P from the task's override)
  MEDIC_FAKE_RESETS_AT  epoch printed in the Codex 429 (default now + 3600)
  MEDIC_FAKE_STARTUP_S  boot delay before the first line (default 2: a real worker takes
                        seconds to start)
  MEDIC_FAKE_EXIT_PAUSE_S  pause between the last output and the exit (default 0.05, the
                        CLI's shutdown)
  MEDIC_TRAILER=1       end with ``[kanban-worker-exit] rc=N`` on stderr, as newer Hermes
                        does (quiet_single_query.py ``exit_single_query``)
  HERMES_SRC            Hermes's source tree, for the real worker tools (else PYTHONPATH)

Behaviours: pv429, rl75, skill, crash_plain, pv_silent, pv_artifacts, hang, complete, block.
A plan entry is a behaviour's name, or {"do": NAME, "resets_in_s": N}: the 429 then names
resets_at = the time it is printed + N (recorded in the exit line as "resets_at").
"""
import json
import os
import signal
import sys
import time

TASK = os.environ.get("HERMES_KANBAN_TASK", "")
RUN = os.environ.get("HERMES_KANBAN_RUN_ID")
TRAILER = os.environ.get("MEDIC_TRAILER") == "1"


def _attempt_behaviour():
    """(behaviour, options) for this attempt."""
    plan_path = os.environ["MEDIC_FAKE_PLAN"]
    with open(plan_path) as f:
        plan = json.load(f).get(TASK) or ["pv_silent"]
    counters = plan_path + ".attempts"
    os.makedirs(counters, exist_ok=True)
    counter = os.path.join(counters, TASK or "unknown")
    n = 0
    if os.path.exists(counter):
        with open(counter) as f:
            n = int(f.read().strip() or 0)
    with open(counter, "w") as f:
        f.write(str(n + 1))
    entry = plan[min(n, len(plan) - 1)]
    if isinstance(entry, dict):
        return entry.get("do", "pv_silent"), entry
    return entry, {}


EXIT_EXTRA = {}  # more fields for this worker's exit line (e.g. the resets_at it printed)


def _append_line(path, rec):
    # One write(2) of a whole line with O_APPEND: lines of concurrent workers never mix.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(rec) + "\n").encode())
    finally:
        os.close(fd)


def _record_start(behaviour):
    path = os.environ.get("MEDIC_FAKE_STARTS")
    if path:
        _append_line(path, {"task": TASK, "run": int(RUN) if RUN and RUN.isdigit() else RUN,
                            "pid": os.getpid(), "behaviour": behaviour, "argv": sys.argv[1:],
                            "start_ns": time.time_ns()})


def _record_exit(rc, sig=None):
    rec = {"task": TASK, "run": int(RUN) if RUN and RUN.isdigit() else RUN, "pid": os.getpid(),
           "rc": rc, "exit_ns": time.time_ns(), "mono_ns": time.monotonic_ns(), **EXIT_EXTRA}
    if sig is not None:
        rec["signal"] = sig
    path = os.environ.get("MEDIC_FAKE_EXITS")
    if path:
        _append_line(path, rec)


def out(line=""):
    print(line, flush=True)


def err(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def finish(rc):
    time.sleep(float(os.environ.get("MEDIC_FAKE_EXIT_PAUSE_S", "0.05")))
    sys.stdout.flush()
    _record_exit(rc)
    if TRAILER:
        # quiet_single_query.exit_single_query: a blank line, then the trailer, on stderr
        err("\n[kanban-worker-exit] rc=%d" % rc)
    os._exit(rc)


def _on_sigterm(signum, _frame):
    # Hermes's enforce_max_runtime sends SIGTERM (then SIGKILL after ~5 s).  Record the kill
    # and die of the same signal, so the wait status is the signal's.
    _record_exit(-signum, sig=signum)
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def header():
    # cli.py single-query path: console.print("[bold blue]Query:[/] ..."), then the agent init
    out(f"Query: work kanban task {TASK}")
    out("Initializing agent...")


def api_failure(attempt, max_retries, error_summary):
    # agent/conversation_loop.py:4212-4221 (a Codex profile's provider, model and endpoint)
    out(f"⚠️  API call failed (attempt {attempt}/{max_retries}): RateLimitError [HTTP 429]")
    out("   🔌 Provider: openai-codex  Model: gpt-5.5")
    out("   🌐 Endpoint: https://chatgpt.com/backend-api/codex")
    out(f"   📝 Error: {error_summary}")
    out("   ⏱️  Elapsed: 0.91s  Context: 2 msgs, ~5,512 tokens")


def tool_line(name, preview, dur):
    # agent/display.py: the generic tool-feed line, f"┊ ⚡ {tool_name[:9]:9} {preview}  {dur}"
    return f"  ┊ ⚡ {name[:9]:9} {preview[:35]}  {dur}"


def exit_summary(tool_calls=0):
    # cli.py _print_exit_summary(clear_screen=False) for profile "researcher"
    sid = time.strftime("%Y%m%d_%H%M%S") + "_" + (TASK[2:8] or "000000")
    out()
    out("Resume this session with:")
    out(f"  hermes --resume {sid} -p researcher")
    out()
    out(f"Session:        {sid}")
    out("Duration:       2s")
    out(f"Messages:       {2 + 2 * tool_calls} (1 user, {tool_calls} tool calls)")


def hermes_tools():
    src = os.environ.get("HERMES_SRC")
    if src and src not in sys.path:
        sys.path.insert(0, src)
    from tools import kanban_tools  # Hermes's real worker tools
    return kanban_tools


def main():
    behaviour, opts = _attempt_behaviour()
    _record_start(behaviour)
    signal.signal(signal.SIGTERM, _on_sigterm)
    time.sleep(float(os.environ.get("MEDIC_FAKE_STARTUP_S", "2")))
    if opts.get("resets_in_s") is not None:
        resets_at = int(time.time()) + int(opts["resets_in_s"])
    else:
        resets_at = int(os.environ.get("MEDIC_FAKE_RESETS_AT") or int(time.time()) + 3600)
    if behaviour in ("pv429", "rl75"):
        EXIT_EXTRA["resets_at"] = resets_at
    codex_429 = f"HTTP 429: The usage limit has been reached. plan_type: team, resets_at: {resets_at}"

    if behaviour == "pv429":
        # The plain `chat -q` path: three 429s, the final answer is the error, rc=0 without a
        # Kanban call (cli.py:18542) -> Hermes records a protocol violation.
        header()
        for attempt in (1, 2, 3):
            api_failure(attempt, 3, codex_429)
            if attempt < 3:
                out(f"⏱️ Rate limited. Waiting 2.{attempt}s (attempt {attempt + 1}/3)...")
        out(f"❌ Rate limited after 3 retries — {codex_429}")
        out(f"   💀 Final error: {codex_429}")
        out()
        out(f"API call failed after 3 retries: {codex_429}")
        exit_summary()
        finish(0)
    elif behaviour == "rl75":
        # The quiet (-Q) path: failure_reason rate_limit -> EX_TEMPFAIL (cli.py:18494-18518);
        # session_id goes to stderr.
        header()
        api_failure(1, 3, codex_429)
        err(f"Error: {codex_429}")
        err(f"\nsession_id: {time.strftime('%Y%m%d_%H%M%S')}_rl75")
        finish(75)
    elif behaviour == "skill":
        # hermes_cli/main.py:2735-2738: cli_main raises ValueError (cli.py:18211) -> exit 1
        out("Error: Unknown skill(s): kanban-worker")
        finish(1)
    elif behaviour == "crash_plain":
        header()
        out("  ┊ 💻 $         python3 build.py  0.4s")
        finish(1)
    elif behaviour == "pv_silent":
        header()
        out("I looked at the task and everything seems fine.")
        exit_summary()
        finish(0)
    elif behaviour == "pv_artifacts":
        # All the work done in the workspace (the cwd Hermes gives the worker), no Kanban call.
        header()
        os.makedirs("raw", exist_ok=True)
        os.makedirs("state", exist_ok=True)
        files = {
            "raw/sources.json": '{"sources": ["https://example.org/a", "https://example.org/b"]}\n',
            "report.md": "# Report\n\nTwo sources agree; details below.\n",
            "report.html": "<!doctype html><html><body><h1>Report</h1><p>Two sources agree.</p></body></html>\n",
            "state/PROJECT_STATE.md": "# Project state\n\n- report.md and report.html written\n",
            "state/PROJECT_STATE.html": "<!doctype html><html><body><p>report written</p></body></html>\n",
        }
        for path, text in files.items():
            with open(path, "w") as f:
                f.write(text)
            out(f"  ┊ ✍️  write     {path}  0.0s")
        out("The report is in report.md and report.html.")
        exit_summary(tool_calls=len(files))
        finish(0)
    elif behaviour == "hang":
        header()
        out("  ┊ 💻 $         sleep 600  ...")
        time.sleep(600)
        finish(0)
    elif behaviour in ("complete", "block"):
        header()
        out(tool_line("kanban_show", TASK, "0.0s"))
        kt = hermes_tools()
        if behaviour == "complete":
            res = kt._handle_complete({"summary": "wrote report.md and report.html", "result": "done"})
            out(tool_line("kanban_complete", "wrote report.md and report.html", "0.1s"))
        else:
            res = kt._handle_block({"reason": "need the customer's API key to continue", "kind": "needs_input"})
            out(tool_line("kanban_block", "need the customer's API key", "0.1s"))
        if '"error"' in str(res):
            err(f"kanban tool error: {res}")
        out("Done." if behaviour == "complete" else "Blocked: waiting for the API key.")
        exit_summary(tool_calls=2)
        finish(0)
    else:
        out(f"unknown behaviour {behaviour}")
        finish(2)


if __name__ == "__main__":
    main()
