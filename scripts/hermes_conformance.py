#!/usr/bin/env python3
"""medic against Hermes's real Kanban dispatcher: the driver scripts/conformance.sh calls.

Nothing of Hermes is stubbed: tasks are created with Hermes's ``create_task``, boards with
``init_db`` / ``create_board``, and Hermes's own ``dispatch_once`` tick claims, spawns (its
real ``_default_spawn``), reaps, detects crashes and enforces max runtimes.  The only
substitution is the worker binary: ``$HERMES_BIN`` (read by ``_resolve_hermes_argv``) points
at scripts/hermes_fake_worker.py.  Test knobs: HERMES_KANBAN_CRASH_GRACE_SECONDS=0,
HERMES_KANBAN_RATE_LIMIT_COOLDOWN_SECONDS=0, a 1 s tick (the gateway's default is 60 s).

  hermes_conformance.py setup     --hermes-src SRC --work W --variant V
  hermes_conformance.py subscribe SOCKET OUT.ndjson
  hermes_conformance.py drive     --hermes-src SRC --work W --variant V [--run-s 90]
  hermes_conformance.py analyze   --work W --variant V [--medic-rc N]

Variants: observe (Hermes as-is), trailer (the worker writes the newer
``[kanban-worker-exit] rc=N`` trailer), wal (board DB files already WAL before init_db),
rotate (``kanban: {worker_log_rotate_bytes: 200, worker_log_backup_count: 2}``).

The act variant (``medic act`` live, applying decisions through the real ``hermes`` CLI,
scripts/hermes_cli.sh) runs its own scenarios in two phases (ACT_PHASES), each on a fresh
root, with Hermes's production 60 s tick and its default 300 s rate-limit cooldown:

  hermes_conformance.py setup       --hermes-src SRC --work W --variant act
  hermes_conformance.py record      --hermes-src SRC --work W     (board events, ms times)
  hermes_conformance.py act-drive   --hermes-src SRC --work W --phase main|fallback
  hermes_conformance.py act-analyze --work W                      (W holds main/ and fallback/)

Run with the Python that has Hermes's dependencies (scripts/conformance.sh: $PYTHON).
scripts/hermes_trace.py imports the scenario and dispatcher code from here.
"""
import argparse
import json
import os
import re
import signal
import socket
import sqlite3
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
BOARDS = ["default", "proj"]
VARIANTS = ["observe", "trailer", "wal", "rotate"]
SETUP_VARIANTS = VARIANTS + ["act"]
TERMINAL = ("done", "blocked", "archived", "triage")

# key -> (board, plan, create_task kwargs).  "ws" in kwargs: a `dir` workspace under the work
# dir, "ws_files" files put there before the first run.
SCENARIOS = [
    ("A_pv429_then_complete", "default", ["pv429", "complete"], {}),
    ("B_skill_then_complete", "default", ["skill", "complete"], {}),
    ("C_complete", "default", ["complete"], {"ws": "ws-dir"}),
    ("D_worker_blocks", "default", ["block"], {}),
    ("E_exit75_then_complete", "default", ["rl75", "complete"], {}),
    ("F_timeout_then_complete", "default", ["hang", "complete"], {"max_runtime_seconds": 8}),
    ("G_crash_gave_up", "default", ["crash_plain"], {"max_retries": 1}),
    ("H_pv_silent_gave_up", "default", ["pv_silent"], {"max_retries": 1}),
    ("P_proj_pv429_then_complete", "proj", ["pv429", "complete"], {}),
    ("Q_pv_silent_then_complete", "default", ["pv_silent", "complete"], {}),
    ("R_pv_with_evidence_then_complete", "default", ["pv_silent", "complete"],
     {"ws": "ws-resume", "ws_files": {"raw/data.json": '{"rows": 120}\n'}}),
    ("S_pv_artifacts_pass_then_complete", "default", ["pv_artifacts", "complete"], {}),
]


# The act variant's scenarios, per phase (a fresh Hermes root and medic each: the fallback
# phase's config moves every openai-codex rate limit to xai, which the main phase's
# rate limit with a reset must not see).  "parents": keys of tasks created before it.
ACT_PHASES = {
    "main": [
        ("RL_reset_then_complete", "default", [{"do": "pv429", "resets_in_s": 75}, "complete"], {}),
        # max_retries 1: Hermes's breaker stops the parent after that run rather than run it
        # again, so the complete is act's to make (a respawn would redo the work instead).
        ("PARENT_artifacts_no_call", "proj", ["pv_artifacts", "complete"], {"max_retries": 1}),
        ("CHILD_of_parent", "proj", ["complete"], {"parents": ["PARENT_artifacts_no_call"]}),
    ],
    "fallback": [
        ("FALLBACK_429_to_xai", "default", ["pv429", "complete"], {}),
    ],
}
ACT_FALLBACK = ("xai", "grok-4.3")  # the fallback phase's config: openai-codex -> xai/grok-4.3


def board_arg(b):
    return None if b == "default" else b


# ---------------------------------------------------------------- Hermes environment

def hermes_env(src, work, variant, resets_at=None):
    """Point this process (and, through Hermes, its workers) at the work dir's Hermes root.
    Must run before hermes_cli is imported.  The act variant keeps Hermes's default
    rate-limit cooldown (300 s): act parks rate-limited tasks itself."""
    work = os.path.abspath(work)
    root = os.path.join(work, "root")
    src = os.path.abspath(src)
    if src not in sys.path:
        sys.path.insert(0, src)
    for k in ("HERMES_KANBAN_HOME", "HERMES_KANBAN_BOARD", "HERMES_KANBAN_DB",
              "HERMES_KANBAN_WORKSPACES_ROOT", "HERMES_KANBAN_TASK", "HERMES_TUI"):
        os.environ.pop(k, None)
    os.environ["HERMES_HOME"] = root
    os.environ["HERMES_KANBAN_CRASH_GRACE_SECONDS"] = "0"          # Hermes's test knob
    if variant == "act":
        os.environ.pop("HERMES_KANBAN_RATE_LIMIT_COOLDOWN_SECONDS", None)
        os.environ["MEDIC_FAKE_STARTS"] = os.path.join(work, "starts.ndjson")
    else:
        os.environ["HERMES_KANBAN_RATE_LIMIT_COOLDOWN_SECONDS"] = "0"  # Hermes's test knob
    os.environ["HERMES_SRC"] = src
    os.environ["HERMES_BIN"] = os.path.join(work, "bin", "hermes")
    os.environ["MEDIC_FAKE_PLAN"] = os.path.join(work, "plan.json")
    os.environ["MEDIC_FAKE_EXITS"] = os.path.join(work, "exits.ndjson")
    os.environ["MEDIC_TRAILER"] = "1" if variant == "trailer" else "0"
    if resets_at is not None:
        os.environ["MEDIC_FAKE_RESETS_AT"] = str(resets_at)
    return root


def write_worker_wrapper(work):
    """$HERMES_BIN: exec the fake worker with this interpreter (keeps the pid Hermes saw)."""
    path = os.path.join(work, "bin", "hermes")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    worker = os.path.join(HERE, "hermes_fake_worker.py")
    with open(path, "w") as f:
        f.write(f"#!/bin/sh\nexec '{sys.executable}' '{worker}' \"$@\"\n")
    os.chmod(path, 0o755)


def setup_root(src, work, variant):
    """A fresh Hermes root: profile dir, boards default and proj (empty), variant config."""
    if variant not in SETUP_VARIANTS:
        sys.exit(f"unknown variant {variant} (one of {', '.join(SETUP_VARIANTS)})")
    root = hermes_env(src, work, variant)
    os.makedirs(os.path.join(root, "profiles", "researcher"), exist_ok=True)
    write_worker_wrapper(work)
    if variant == "wal":
        # Board files already WAL on disk (as an older Hermes, or a SQLite without the
        # WAL-reset bug, leaves them); Hermes's own init_db then creates the schema.
        for p in (os.path.join(root, "kanban.db"), os.path.join(root, "kanban", "boards", "proj", "kanban.db")):
            os.makedirs(os.path.dirname(p), exist_ok=True)
            c = sqlite3.connect(p)
            c.execute("PRAGMA journal_mode=WAL")
            c.close()
    if variant == "rotate":
        with open(os.path.join(root, "config.yaml"), "a") as f:
            f.write("kanban:\n  worker_log_rotate_bytes: 200\n  worker_log_backup_count: 2\n")
    from hermes_cli import kanban_db as kb
    kb.init_db()
    kb.create_board("proj", name="Project board")
    kb.init_db(board="proj")
    return kb, journal_modes(kb)


def journal_modes(kb):
    modes = {}
    for b in BOARDS:
        c = sqlite3.connect(f"file:{kb.kanban_db_path(board=board_arg(b))}?mode=ro", uri=True)
        modes[b] = c.execute("PRAGMA journal_mode").fetchone()[0].lower()
        c.close()
    return modes


def create_scenarios(kb, work, scenarios=None):
    """Creates the scenario tasks with Hermes's create_task; writes plan.json for the worker.
    Returns {task_id: {"key", "board", "plan"}} in creation order."""
    scen = {}
    ids = {}
    for key, board, plan, kw in (SCENARIOS if scenarios is None else scenarios):
        kw = dict(kw)
        if "parents" in kw:
            kw["parents"] = [ids[k] for k in kw["parents"]]
        ws, ws_files = kw.pop("ws", None), kw.pop("ws_files", {})
        if ws:
            wpath = os.path.join(work, ws)
            os.makedirs(wpath, exist_ok=True)
            for rel, text in ws_files.items():
                os.makedirs(os.path.dirname(os.path.join(wpath, rel)), exist_ok=True)
                with open(os.path.join(wpath, rel), "w") as f:
                    f.write(text)
            kw.update(workspace_kind="dir", workspace_path=wpath)
        with kb.connect_closing(board=board_arg(board)) as conn:
            tid = kb.create_task(conn, title=f"scenario {key}", body=f"medic conformance: {key}",
                                 assignee="researcher", board=board_arg(board), **kw)
        scen[tid] = {"key": key, "board": board, "plan": plan}
        ids[key] = tid
    with open(os.environ["MEDIC_FAKE_PLAN"], "w") as f:
        json.dump({tid: s["plan"] for tid, s in scen.items()}, f, indent=1)
    with open(os.path.join(work, "scenarios.json"), "w") as f:
        json.dump(scen, f, indent=1)
    return scen


def pending_tasks(kb):
    n = 0
    for b in BOARDS:
        with kb.connect_closing(board=board_arg(b)) as conn:
            n += conn.execute("SELECT COUNT(*) FROM tasks WHERE status NOT IN (%s)"
                              % ",".join("?" * len(TERMINAL)), TERMINAL).fetchone()[0]
    return n


def spawned_pids(kb):
    pids = []
    for b in BOARDS:
        with kb.connect_closing(board=board_arg(b)) as conn:
            for (payload,) in conn.execute("SELECT payload FROM task_events WHERE kind = 'spawned'"):
                try:
                    pids.append(int(json.loads(payload)["pid"]))
                except (TypeError, ValueError, KeyError):
                    pass
    return pids


def pid_state(pid):
    """'gone', 'zombie' or 'alive' (from /proc)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("State:"):
                    return "zombie" if "Z" in line.split(":", 1)[1] else "alive"
    except OSError:
        return "gone"
    return "alive"


def is_our_worker(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"hermes_fake_worker.py" in f.read()
    except OSError:
        return False


TICK_KEYS = ("spawned", "crashed", "timed_out", "auto_blocked", "rate_limited", "respawn_guarded",
             "skipped_nonspawnable")


def tick_board(kb, b, keys=TICK_KEYS):
    """One dispatch_once on board b; what it did (empty: nothing)."""
    with kb.connect_closing(board=board_arg(b)) as conn:
        r = kb.dispatch_once(conn, board=board_arg(b))
    act = {k: getattr(r, k) for k in keys if getattr(r, k, None)}
    return {k: [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, list) else v
            for k, v in act.items()}


def kill_leftover_workers(kb):
    for p in spawned_pids(kb):
        if pid_state(p) == "alive" and is_our_worker(p):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    kb.reap_worker_zombies()


def run_dispatcher(kb, run_s=90.0, tick_s=1.0, linger_s=6.0, log=None):
    """Hermes's real dispatcher tick on both boards until every task is done/blocked (or
    run_s), then a few more ticks so Hermes reaps its last workers.  Returns the tick log.
    Leftover workers (still alive at the end) are killed by pid."""
    ticks = []
    deadline = time.time() + run_s
    linger_until = None
    while True:
        for b in BOARDS:
            act = tick_board(kb, b)
            if act:
                ticks.append({"t": round(time.time(), 3), "board": b, **act})
                if log:
                    log(f"{time.strftime('%H:%M:%S')} {b} {act}")
        now = time.time()
        if linger_until is None and (pending_tasks(kb) == 0 or now >= deadline):
            linger_until = now + linger_s
        if linger_until is not None:
            live = [p for p in spawned_pids(kb)
                    if pid_state(p) == "zombie" or (pid_state(p) == "alive" and is_our_worker(p))]
            if not live or now >= linger_until:
                break
        time.sleep(tick_s)
    kill_leftover_workers(kb)
    return ticks


def run_dispatcher_every(kb, tick_s=60.0, run_s=200.0, linger_s=3.0, log=None):
    """The gateway's cadence: Hermes's dispatch_once on both boards every tick_s (the first
    at once), until every task is done/blocked (then linger_s more) or run_s.  Between ticks
    nothing of Hermes runs here: what happens then is medic act's doing.  Every tick is
    logged, with its start and end time."""
    ticks = []
    t0 = time.time()
    next_tick = t0
    done_at = None
    while True:
        now = time.time()
        if now >= next_tick:
            for b in BOARDS:
                t = time.time()
                act = tick_board(kb, b, TICK_KEYS + ("promoted", "skipped_locked"))
                ticks.append({"t": round(t, 3), "t_end": round(time.time(), 3), "board": b, **act})
                if log:
                    log(f"{time.strftime('%H:%M:%S')} tick {b} {act}")
            next_tick += tick_s
        now = time.time()
        if done_at is None and pending_tasks(kb) == 0:
            done_at = now
        if (done_at is not None and now - done_at >= linger_s) or now - t0 >= run_s:
            break
        time.sleep(max(0.0, min(0.25, next_tick - now)))
    kill_leftover_workers(kb)
    return ticks


def dump_boards(kb):
    dump = {}
    for b in BOARDS:
        with kb.connect_closing(board=board_arg(b)) as conn:
            dump[b] = {t: [dict(r) for r in conn.execute(
                f"SELECT * FROM {t} ORDER BY " + ("created_at, id" if t == "tasks" else "id"))]
                for t in ("tasks", "task_runs", "task_events")}
        dump[b]["db_path"] = str(kb.kanban_db_path(board=board_arg(b)))
        dump[b]["logs_dir"] = str(kb.worker_logs_dir(board=board_arg(b)))
    return dump


# ---------------------------------------------------------------- subcommands

def cmd_setup(a):
    work = os.path.abspath(a.work)
    os.makedirs(work, exist_ok=True)
    kb, modes = setup_root(a.hermes_src, work, a.variant)
    resets_at = int(time.time()) + 3600
    meta = {"variant": a.variant, "resets_at": resets_at, "journal_mode": modes,
            "root": os.environ["HERMES_HOME"]}
    with open(os.path.join(work, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"root={meta['root']} journal_mode=" + ",".join(f"{b}:{m}" for b, m in modes.items()))


def cmd_subscribe(a):
    """Connects to medic's socket, subscribes from seq 0, records every line with the
    time_ns it was received.  Ends at EOF (medic stopped) or SIGTERM."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(a.socket)
    s.sendall(b'{"op":"subscribe","since":0}\n')
    buf = b""
    with open(a.out, "a") as out:
        while True:
            chunk = s.recv(65536)
            now = time.time_ns()
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                out.write(json.dumps({"recv_ns": now, "line": line.decode("utf-8", "replace")}) + "\n")
                out.flush()


def cmd_drive(a):
    work = os.path.abspath(a.work)
    meta = json.load(open(os.path.join(work, "meta.json")))
    hermes_env(a.hermes_src, work, a.variant, resets_at=meta["resets_at"])
    from hermes_cli import kanban_db as kb
    create_scenarios(kb, work)
    ticks = run_dispatcher(kb, run_s=a.run_s, log=lambda s: print(s, flush=True))
    dump = dump_boards(kb)
    dump["ticks"] = ticks
    with open(os.path.join(work, "hermes_dump.json"), "w") as f:
        json.dump(dump, f, indent=1, default=str)
    left = sum(1 for b in BOARDS for t in dump[b]["tasks"] if t["status"] not in TERMINAL)
    print(f"dispatcher stopped; tasks not done/blocked: {left}", flush=True)


def percentile(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))  # nearest rank
    return xs[k]


TASK_LEVEL = ("/gave_up", "/blocked")


def cmd_analyze(a):
    work = os.path.abspath(a.work)
    meta = json.load(open(os.path.join(work, "meta.json")))
    resets_at = meta["resets_at"]
    scen = json.load(open(os.path.join(work, "scenarios.json")))
    dump = json.load(open(os.path.join(work, "hermes_dump.json")))
    recs = []
    if os.path.exists(os.path.join(work, "decisions.ndjson")):
        for l in open(os.path.join(work, "decisions.ndjson")):
            if l.strip():
                r = json.loads(l)
                try:
                    r["msg"] = json.loads(r["line"])
                except ValueError:
                    r["msg"] = {"type": "unparsable", "line": r["line"]}
                recs.append(r)
    exits = {}
    if os.path.exists(os.path.join(work, "exits.ndjson")):
        for l in open(os.path.join(work, "exits.ndjson")):
            if l.strip():
                e = json.loads(l)
                exits[(e["task"], e["run"])] = e
    decisions = [r for r in recs if r["msg"].get("type") == "decision"]
    other_types = defaultdict(int)
    for r in recs:
        other_types[r["msg"].get("type")] += 1

    fails = []

    def check(ok, what):
        print(("  PASS " if ok else "  FAIL ") + what)
        if not ok:
            fails.append(what)

    print(f"== variant {a.variant}: messages " + ", ".join(f"{k}={v}" for k, v in sorted(other_types.items(), key=str))
          + f"; resets_at={resets_at}; journal_mode={meta.get('journal_mode')}")
    ids = [r["msg"]["id"] for r in decisions]
    check(len(ids) == len(set(ids)), f"decision ids unique ({len(ids)} decisions)")
    check(not [i for i in ids if i.endswith("/0")], "no decision id ends in /0 "
          f"({[i for i in ids if i.endswith('/0')]})")
    by_task = defaultdict(list)
    for r in decisions:
        d = r["msg"]
        by_task[(d.get("board"), d.get("task_id"))].append(d)
    known = {(s["board"], tid) for tid, s in scen.items()}
    for tid, s in scen.items():
        key, b = s["key"], s["board"]
        trow = next((t for t in dump[b]["tasks"] if t["id"] == tid), None)
        status = trow["status"] if trow else "?"
        runs = [r for r in dump[b]["task_runs"] if r["task_id"] == tid]
        run_ids = [r["id"] for r in runs]
        ds = sorted(by_task.get((b, tid), []), key=lambda d: d["seq"])
        print(f"\n-- {key} board={b} task={tid} plan={s['plan']} final={status} runs="
              + ",".join(f"{r['id']}:{r['outcome']}" for r in runs))
        for d in ds:
            ex = d.get("exit") or {}
            print(f"   {d['id']}: {d['class']}/{d['action']} retry_at={d.get('retry_at')} "
                  f"missing={d.get('missing')} exit={ex.get('seen_by')}{'+wait' if ex.get('waited') else ''}"
                  f"{'/' + ex['event'] if ex.get('event') else ''} rc={ex.get('rc')}")
        per_run = defaultdict(list)
        for d in ds:
            if not d["id"].endswith(TASK_LEVEL):
                per_run[d.get("run_id")].append(d)
        for rid, lst in sorted(per_run.items(), key=lambda kv: str(kv[0])):
            check(len(lst) <= 1, f"{key}: at most one decision for run {rid} (got {[d['id'] for d in lst]})")
        for r in runs:
            if r["outcome"] == "completed":
                check(not [d for d in ds if d.get("run_id") == r["id"]],
                      f"{key}: no decision for completed run {r['id']}")
        for d in ds:
            check(d.get("run_id") in run_ids,
                  f"{key}: decision {d['id']} names run {d.get('run_id')}, one of the task's runs {run_ids}")
        first = run_ids[0] if run_ids else None
        cands = [d for d in ds if d.get("run_id") == first and first is not None]
        d1 = next((d for d in cands if not d["id"].endswith(TASK_LEVEL)), cands[0] if cands else None)
        got = d1 and (d1["class"], d1["action"])
        if key[0] in "AEP":
            check(got == ("rate_limit", "retry_at"), f"{key}: run {first} -> rate_limit/retry_at (got {got})")
            check(d1 is not None and d1.get("retry_at") == resets_at,
                  f"{key}: retry_at == resets_at {resets_at} (got {d1 and d1.get('retry_at')})")
        elif key[0] == "B":
            check(got == ("env_missing", "repair_env"), f"{key}: run {first} -> env_missing/repair_env (got {got})")
        elif key[0] == "C":
            check(not ds, f"{key}: no decision at all (got {[d['id'] for d in ds]})")
        elif key[0] == "D":
            check(d1 is not None and d1["action"] == "ignore", f"{key}: worker's own block -> ignore (got {got})")
        elif key[0] == "F":
            check(d1 is not None and d1["class"] == "timeout", f"{key}: timed_out run {first} -> class timeout (got {got})")
        elif key[0] == "H":
            check(d1 is not None and d1["class"] == "protocol_violation",
                  f"{key}: clean exit without a Kanban call -> protocol_violation (got {got})")
        elif key[0] == "Q":
            check(got == ("protocol_violation", "block"),
                  f"{key}: rc=0, no Kanban call, empty workspace -> protocol_violation/block (got {got})")
        elif key[0] == "R":
            check(got == ("protocol_violation", "resume") and bool(d1.get("missing")),
                  f"{key}: evidence saved -> protocol_violation/resume with missing (got {got}, "
                  f"missing {d1 and d1.get('missing')})")
        elif key[0] == "S":
            # the class is protocol_violation when medic saw rc=0, none when Hermes lost the status
            check(d1 is not None and d1["action"] == "complete", f"{key}: artifacts pass -> complete (got {got})")
        if key[0] in "GH":
            last = ds[-1] if ds else None
            check(status == "blocked" and last is not None and last["action"] not in ("retry", "retry_at"),
                  f"{key}: Hermes gave up (task {status}); medic's last word is not a bare retry "
                  f"(last {last and (last['id'], last['action'])})")
    # Informational: exits whose status Hermes itself lost (a `crashed` event without an
    # exit code for a worker that exited with one, e.g. reaped by subprocess's _cleanup()
    # when the same process spawned another worker, or exited between Hermes's reap and its
    # liveness check).
    for b in BOARDS:
        for e in dump[b]["task_events"]:
            if e["kind"] == "crashed" and e["task_id"] in scen and "exit_code" not in (e["payload"] or ""):
                x = exits.get((e["task_id"], e["run_id"]))
                if x is not None:
                    print(f"  note: Hermes lost the exit status of {scen[e['task_id']]['key']} run {e['run_id']} "
                          f"(worker rc={x['rc']}; Hermes recorded `crashed` without an exit code)")
    stray = [d for (b, t), lst in by_task.items() if (b, t) not in known for d in lst]
    check(not stray, f"no decision for unknown tasks ({[d['id'] for d in stray]})")
    if a.medic_rc is not None:
        check(a.medic_rc == 0, f"medic ran to the end and exited 0 on SIGTERM (exit {a.medic_rc})")

    # exit-to-decision latency per exit path
    lat = defaultdict(list)
    unmatched = 0
    for r in decisions:
        d = r["msg"]
        ex = d.get("exit") or {}
        e = exits.get((d.get("task_id"), d.get("run_id")))
        if e is None:
            unmatched += 1
            continue
        path = str(ex.get("seen_by")) + ("+wait" if ex.get("waited") else "")
        if d["id"].endswith(TASK_LEVEL):
            path += " (" + d["id"].rsplit("/", 1)[1] + ")"
        lat[path].append((r["recv_ns"] - e["exit_ns"]) / 1e6)
    print(f"\n  exit-to-decision latency, ms ({unmatched} decision(s) without a recorded worker exit):")
    print(f"  {'exit path':<22} {'n':>3} {'p50':>9} {'p90':>9} {'max':>9}")
    for path in sorted(lat):
        xs = lat[path]
        print(f"  {path:<22} {len(xs):>3} {percentile(xs, 50):>9.1f} {percentile(xs, 90):>9.1f} {max(xs):>9.1f}")
    left = sum(1 for tid, s in scen.items() for t in dump[s["board"]]["tasks"]
               if t["id"] == tid and t["status"] not in TERMINAL)
    medic_rc = "" if a.medic_rc is None else f", medic exit {a.medic_rc}"
    print(f"\nSUMMARY {a.variant}: {'PASS' if not fails else 'FAIL'} {len(fails)} check(s) failed, "
          f"{len(decisions)} decisions, {left} task(s) not done/blocked{medic_rc}")
    with open(os.path.join(work, "analysis.json"), "w") as f:
        json.dump({"fails": fails, "decisions": len(decisions),
                   "latency_ms": {k: sorted(v) for k, v in lat.items()}}, f, indent=1)
    return 1 if fails else 0


# ---------------------------------------------------------------- the act variant

def cmd_record(a):
    """Every new task_events row and every change of a task row (status, current run,
    model/provider override) on both boards, with the time_ns it was first seen, polled every
    --interval-ms (read-only): Hermes's created_at has 1 s granularity.  Ends on SIGTERM."""
    work = os.path.abspath(a.work)
    hermes_env(a.hermes_src, work, "act")
    from hermes_cli import kanban_db as kb
    paths = {b: str(kb.kanban_db_path(board=board_arg(b))) for b in BOARDS}
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    conns, last_ev, rows_seen = {}, {b: 0 for b in BOARDS}, {b: {} for b in BOARDS}
    with open(a.out, "a") as out:
        while not stop:
            for b in BOARDS:
                try:
                    if b not in conns:
                        c = sqlite3.connect(f"file:{paths[b]}?mode=ro", uri=True, timeout=0.5)
                        c.row_factory = sqlite3.Row
                        conns[b] = c
                    evs = conns[b].execute(
                        "SELECT id, task_id, run_id, kind, payload, created_at FROM task_events "
                        "WHERE id > ? ORDER BY id", (last_ev[b],)).fetchall()
                    rows = conns[b].execute(
                        "SELECT id, status, current_run_id, model_override, provider_override "
                        "FROM tasks").fetchall()
                except sqlite3.Error:
                    continue  # a writer's lock or a hot journal: the next poll sees it
                now = time.time_ns()
                for e in evs:
                    last_ev[b] = e["id"]
                    out.write(json.dumps({"t_ns": now, "board": b, "event": dict(e)}) + "\n")
                for r in rows:
                    r = dict(r)
                    if rows_seen[b].get(r["id"]) != r:
                        rows_seen[b][r["id"]] = r
                        out.write(json.dumps({"t_ns": now, "board": b, "task": r}) + "\n")
            out.flush()
            time.sleep(a.interval_ms / 1000.0)


def cmd_act_drive(a):
    work = os.path.abspath(a.work)
    hermes_env(a.hermes_src, work, "act")
    from hermes_cli import kanban_db as kb
    scen = create_scenarios(kb, work, ACT_PHASES[a.phase])
    print(f"phase {a.phase}: " + ", ".join(f"{s['key']}={tid}@{s['board']}" for tid, s in scen.items()),
          flush=True)
    ticks = run_dispatcher_every(kb, tick_s=a.tick_s, run_s=a.run_s, log=lambda s: print(s, flush=True))
    dump = dump_boards(kb)
    dump["ticks"] = ticks
    with open(os.path.join(work, "hermes_dump.json"), "w") as f:
        json.dump(dump, f, indent=1, default=str)
    left = sum(1 for b in BOARDS for t in dump[b]["tasks"] if t["status"] not in TERMINAL)
    print(f"dispatcher stopped ({len(ticks) // len(BOARDS)} tick(s) of {a.tick_s:g} s); "
          f"tasks not done/blocked: {left}", flush=True)


def _ndjson(path):
    if not os.path.exists(path):
        return []
    out = []
    for line in open(path, errors="replace"):
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def _log_time(ts):
    """act's spdlog time (local time, ms) -> epoch ns."""
    import datetime
    return int(datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%f").timestamp() * 1e9)


def parse_act_log(path):
    """What `medic act` logged: every command it ran ("ran `...` exit=N"), every `show` that
    failed, timers fired, refusals."""
    ran, shows, timers, refused = [], [], [], []
    if not os.path.exists(path):
        return ran, shows, timers, refused
    for line in open(path, errors="replace"):
        m = re.match(r"(\S+) (\w+) decision=(\S+) ran `(.*)` exit=(-?\d+)(?: .*?output=\"(.*)\")?\s*$", line)
        if m:
            ran.append({"t_ns": _log_time(m.group(1)), "decision": m.group(3), "cmd": m.group(4),
                        "exit": int(m.group(5)), "output": m.group(6) or ""})
            continue
        m = re.match(r"(\S+) (\w+) `(.*)` exited (-?\d+)(.*)$", line)
        if m:
            shows.append({"t_ns": _log_time(m.group(1)), "cmd": m.group(3), "exit": int(m.group(4)),
                          "output": m.group(5).strip()})
            continue
        m = re.match(r"(\S+) \w+ decision=(\S+) timer for (\S+) fired (-?\d+) ms after retry_at", line)
        if m:
            timers.append({"t_ns": _log_time(m.group(1)), "decision": m.group(2), "task": m.group(3),
                           "late_ms": int(m.group(4))})
            continue
        if re.search(r"decision=\S+ refused:", line):
            refused.append(line.strip())
    return ran, shows, timers, refused


def _verb(cmd):
    """`<hermes> kanban --board=B VERB ...` -> VERB."""
    w = cmd.split()
    return w[3] if len(w) > 3 else cmd


def _short_cmd(cmd, hermes_path):
    s = cmd.replace(hermes_path + " ", "hermes ", 1) if hermes_path else cmd
    s = re.sub(r"^\S*/hermes_cli\.sh ", "hermes ", s)
    return s if len(s) <= 150 else s[:147] + "..."


def load_act_phase(work):
    """Everything one act phase left in its work dir."""
    p = {"work": work}
    p["scen"] = json.load(open(os.path.join(work, "scenarios.json"))) \
        if os.path.exists(os.path.join(work, "scenarios.json")) else {}
    p["dump"] = json.load(open(os.path.join(work, "hermes_dump.json"))) \
        if os.path.exists(os.path.join(work, "hermes_dump.json")) else {b: {"tasks": [], "task_runs": [],
                                                                          "task_events": []} for b in BOARDS}
    p["decisions"] = []
    for r in _ndjson(os.path.join(work, "decisions.ndjson")):
        try:
            m = json.loads(r["line"])
        except (ValueError, KeyError):
            continue
        if m.get("type") == "decision":
            m["recv_ns"] = r["recv_ns"]
            p["decisions"].append(m)
    p["exits"] = _ndjson(os.path.join(work, "exits.ndjson"))
    p["starts"] = _ndjson(os.path.join(work, "starts.ndjson"))
    rec = _ndjson(os.path.join(work, "events.ndjson"))
    p["events"] = [dict(r["event"], board=r["board"], t_ns=r["t_ns"]) for r in rec if "event" in r]
    p["rows"] = [dict(r["task"], board=r["board"], t_ns=r["t_ns"]) for r in rec if "task" in r]
    p["ran"], p["shows"], p["timers"], p["refused"] = parse_act_log(os.path.join(work, "act.log"))
    p["key"] = {s["key"]: tid for tid, s in p["scen"].items()}
    for who in ("medic", "act"):
        rc = os.path.join(work, who + ".rc")
        p[who + "_rc"] = int(open(rc).read().strip() or -1) if os.path.exists(rc) else None
    return p


def cmd_act_analyze(a):
    top = os.path.abspath(a.work)
    hermes_path = a.hermes or ""
    fails = []
    delays = {}

    def check(ok, what):
        print(("  PASS " if ok else "  FAIL ") + what)
        if not ok:
            fails.append(what)

    def ms(ns):
        return None if ns is None else ns / 1e6

    def fmt_t(ns):
        return "-" if ns is None else time.strftime("%H:%M:%S", time.localtime(ns / 1e9)) + \
            ".%03d" % (int(ns / 1e6) % 1000)

    phases = {ph: load_act_phase(os.path.join(top, ph)) for ph in ACT_PHASES
              if os.path.isdir(os.path.join(top, ph))}
    for ph in ACT_PHASES:
        if ph not in phases:
            check(False, f"phase {ph} ran (no {os.path.join(top, ph)})")

    def task_view(p, key):
        tid = p["key"].get(key)
        board = p["scen"].get(tid, {}).get("board", "default")
        row = next((t for t in p["dump"][board]["tasks"] if t["id"] == tid), None)
        runs = [r for r in p["dump"][board]["task_runs"] if r["task_id"] == tid]
        spawned = sorted((e for e in p["events"] if e["task_id"] == tid and e["kind"] == "spawned"),
                         key=lambda e: e["t_ns"])
        ds = sorted((d for d in p["decisions"] if d.get("task_id") == tid and d.get("board") == board),
                    key=lambda d: d["seq"])
        dids = {d["id"] for d in ds}
        cmds = [c for c in p["ran"] if c["decision"] in dids]
        print(f"\n-- {key} board={board} task={tid} final={row and row['status']} "
              f"model={row and row.get('model_override')} provider={row and row.get('provider_override')} "
              f"runs=" + ",".join(f"{r['id']}:{r['outcome']}" for r in runs))
        for d in ds:
            print(f"   decision {d['id']}: {d['class']}/{d['action']} retry_at={d.get('retry_at')} "
                  f"use_provider={d.get('use_provider')} use_model={d.get('use_model')} "
                  f"(received {fmt_t(d['recv_ns'])})")
        for c in cmds:
            print(f"   {fmt_t(c['t_ns'])} act exit={c['exit']}: {_short_cmd(c['cmd'], hermes_path)}")
        for e in spawned:
            print(f"   {fmt_t(e['t_ns'])} spawned run {e['run_id']} (created_at {e['created_at']})")
        return tid, board, row, runs, spawned, ds, cmds

    def exit_of(p, tid, run=None):
        xs = [x for x in p["exits"] if x["task"] == tid and (run is None or x["run"] == run)]
        return xs[0] if xs else None

    def first_run_decision(ds, runs):
        first = runs[0]["id"] if runs else None
        return next((d for d in ds if d.get("run_id") == first), None)

    def ticks_between(p, t0_ns, t1_ns):
        return [t for t in p["dump"].get("ticks", []) if t0_ns < t["t"] * 1e9 < t1_ns]

    main, fb = phases.get("main"), phases.get("fallback")
    if main:
        print(f"== act phase main ({main['work']})")
        # 1. a rate limit with a named reset: parked by act, released at resets_at
        tid, board, row, runs, spawned, ds, cmds = task_view(main, "RL_reset_then_complete")
        x1 = exit_of(main, tid)
        resets_at = x1 and x1.get("resets_at")
        d1 = first_run_decision(ds, runs)
        got = d1 and (d1["class"], d1["action"], d1.get("retry_at"))
        check(d1 is not None and d1["class"] == "rate_limit" and d1["action"] == "retry_at"
              and d1.get("retry_at") == resets_at,
              f"rate limit: medic decided rate_limit/retry_at at the 429's resets_at {resets_at} (got {got})")
        sched = [c for c in cmds if _verb(c["cmd"]) == "schedule"]
        check(bool(sched) and sched[0]["exit"] == 0 and (resets_at is None or sched[0]["t_ns"] < resets_at * 1e9),
              "rate limit: act parked the task (`schedule` exit 0) before resets_at")
        rel = [c for c in cmds if resets_at and c["t_ns"] >= resets_at * 1e9]
        check([_verb(c["cmd"]) for c in rel][:2] == ["unblock", "dispatch"] and all(c["exit"] == 0 for c in rel[:2]),
              "rate limit: at resets_at act ran `unblock` then `dispatch`, exit 0 "
              f"(got {[(_verb(c['cmd']), c['exit']) for c in rel]})")
        for t in main["timers"]:
            if t["task"] == tid:
                print(f"   note: act's timer fired {t['late_ms']} ms after retry_at; then, after resets_at: "
                      + ", ".join(f"`{_verb(c['cmd'])}` exited at +{ms(c['t_ns'] - resets_at * 1e9):.0f} ms"
                                  for c in rel)
                      + (f", spawned seen at +{ms(spawned[1]['t_ns'] - resets_at * 1e9):.0f} ms"
                         if len(spawned) > 1 else ""))
        if resets_at and x1:
            tk = ticks_between(main, x1["exit_ns"], resets_at * 1e9)
            check(bool(tk), f"rate limit: Hermes ticked while the task was parked "
                            f"({len(tk) // len(BOARDS)} tick(s) between the 429 exit and resets_at)")
        early = [e for e in spawned[1:] if resets_at and e["t_ns"] < resets_at * 1e9]
        early_runs = [r for r in runs[1:] if resets_at and r["started_at"] < resets_at]
        check(len(spawned) >= 1 and not early and not early_runs,
              f"rate limit: not respawned before resets_at (spawned runs before it: "
              f"{[e['run_id'] for e in early] + [r['id'] for r in early_runs]})")
        if resets_at and len(spawned) >= 2:
            dl = ms(spawned[1]["t_ns"] - resets_at * 1e9)
            delays["rate limit: respawn after resets_at"] = dl
            check(0 <= dl <= 2000, f"rate limit: respawned (run {spawned[1]['run_id']}) {dl:.0f} ms after "
                                   f"resets_at (limit 2000 ms)")
        else:
            check(False, "rate limit: respawned after resets_at (no second `spawned` event)")
        check(row is not None and row["status"] == "done", f"rate limit: the task ended done "
                                                           f"(got {row and row['status']})")

        # 2. a parent completed by act from its artifacts; its child starts at once
        ptid, _, prow, pruns, _, pds, pcmds = task_view(main, "PARENT_artifacts_no_call")
        ctid, _, crow, _, cspawned, cds, _ = task_view(main, "CHILD_of_parent")
        pd = first_run_decision(pds, pruns)
        check(pd is not None and pd["action"] == "complete",
              f"parent: medic decided complete (got {pd and (pd['class'], pd['action'])})")
        # act completes only once Hermes has ended the run: the run keeps Hermes's outcome.
        first = pruns[0] if pruns else None
        check(first is not None and first["outcome"] not in (None, "completed"),
              f"parent: run {first and first['id']} keeps Hermes's own outcome, not act's complete "
              f"(got {first and first['outcome']})")
        names = [(_verb(c["cmd"]), c["exit"]) for c in pcmds]
        check([n for n, _ in names][:2] == ["complete", "dispatch"] and all(c["exit"] == 0 for c in pcmds[:2]),
              f"parent: act ran `complete` then `dispatch`, exit 0 (got {names})")
        completed = next((e for e in main["events"] if e["task_id"] == ptid and e["kind"] == "completed"), None)
        act_complete = next((c for c in pcmds if _verb(c["cmd"]) == "complete" and c["exit"] == 0), None)
        if completed and cspawned:
            dl = ms(cspawned[0]["t_ns"] - completed["t_ns"])
            delays["parent: child spawned after act's complete"] = dl
            extra = ""
            if act_complete:
                extra = f"; {ms(cspawned[0]['t_ns'] - act_complete['t_ns']):.0f} ms after act logged it"
            # who spawned it: a dispatcher tick of the driver, or act's `dispatch`
            tick = [t for t in main["dump"].get("ticks", []) if ctid in json.dumps(t.get("spawned", []))]
            extra += "; by a Hermes tick" if tick else "; by act's `dispatch`"
            check(0 <= dl <= 2000, f"parent: child spawned {dl:.0f} ms after the parent's `completed` "
                                   f"event (limit 2000 ms){extra}")
        else:
            check(False, f"parent: child spawned after the parent's completion "
                         f"(completed event {'seen' if completed else 'missing'}, "
                         f"child spawned {'seen' if cspawned else 'missing'})")
        check(prow is not None and prow["status"] == "done" and crow is not None and crow["status"] == "done",
              f"parent and child ended done (got {prow and prow['status']}, {crow and crow['status']})")
    if fb:
        print(f"\n== act phase fallback ({fb['work']})")
        prov, model = ACT_FALLBACK
        tid, board, row, runs, spawned, ds, cmds = task_view(fb, "FALLBACK_429_to_xai")
        d1 = first_run_decision(ds, runs)
        check(d1 is not None and d1["class"] == "rate_limit" and d1["action"] == "retry_at"
              and d1.get("use_provider") == prov and d1.get("use_model") == model,
              f"fallback: medic decided rate_limit/retry_at on {prov}/{model} "
              f"(got {d1 and (d1['class'], d1['action'], d1.get('use_provider'), d1.get('use_model'))})")
        sm = [c for c in cmds if _verb(c["cmd"]) == "set-model"]
        check(bool(sm) and f"--provider={prov}" in sm[0]["cmd"] and sm[0]["cmd"].endswith(f" {model}")
              and sm[0]["exit"] == 0,
              f"fallback: act ran `set-model --provider={prov} -- {tid} {model}`, exit 0 "
              f"(got {[(_short_cmd(c['cmd'], hermes_path), c['exit']) for c in sm]})")
        check(row is not None and row.get("model_override") == model and row.get("provider_override") == prov,
              f"fallback: the task row has model_override={model} provider_override={prov} "
              f"(got {row and (row.get('model_override'), row.get('provider_override'))})")
        starts = sorted((s for s in fb["starts"] if s["task"] == tid), key=lambda s: s["start_ns"])
        for s in starts:
            print(f"   {fmt_t(s['start_ns'])} worker run {s['run']} argv: {' '.join(s['argv'][:12])}")
        nxt = starts[1] if len(starts) > 1 else None
        argv = nxt["argv"] if nxt else []
        pairs = list(zip(argv, argv[1:]))
        check(nxt is not None and ("-m", model) in pairs and ("--provider", prov) in pairs,
              f"fallback: the next run's worker got `-m {model} --provider {prov}` from Hermes's _default_spawn "
              f"(run {nxt and nxt['run']})")
        check(row is not None and row["status"] == "done", f"fallback: the task ended done "
                                                           f"(got {row and row['status']})")
        x1 = exit_of(fb, tid)
        if x1 and sm:
            delays["fallback: set-model done after the 429 exit"] = ms(sm[0]["t_ns"] - x1["exit_ns"])
            if len(spawned) >= 2:
                print(f"   note: the next run was spawned {ms(spawned[1]['t_ns'] - x1['exit_ns']) / 1000:.1f} s "
                      f"after the exit (Hermes's next tick)")
    # 4. every command act ran, and its exit code
    print("\n-- every command medic act ran (phase, time, exit, command):")
    n_bad = 0
    for ph, p in phases.items():
        for c in p["ran"]:
            print(f"   {ph:<8} {fmt_t(c['t_ns'])} exit={c['exit']:<3} {_short_cmd(c['cmd'], hermes_path)}"
                  + (f"  output: {c['output'][:120]}" if c["exit"] else ""))
            n_bad += c["exit"] != 0
        for c in p["shows"]:
            print(f"   {ph:<8} {fmt_t(c['t_ns'])} exit={c['exit']:<3} {_short_cmd(c['cmd'], hermes_path)}  {c['output'][:120]}")
            n_bad += c["exit"] != 0
    n_all = sum(len(p["ran"]) + len(p["shows"]) for p in phases.values())
    check(n_all > 0 and n_bad == 0, f"every command act ran exited 0 ({n_all - n_bad}/{n_all}; "
                                    f"`show --json` reads are logged only when they fail)")
    for ph, p in phases.items():
        check(not p["refused"], f"{ph}: act refused no decision ({p['refused'][:2]})")
        ids = [d["id"] for d in p["decisions"]]
        check(len(ids) == len(set(ids)), f"{ph}: decision ids unique ({len(ids)} decisions)")
        worker_done = {(s["task"], s["run"]) for s in p["starts"] if s.get("behaviour") == "complete"}
        bad = [d["id"] for d in p["decisions"] if (d["task_id"], d.get("run_id")) in worker_done]
        check(not bad, f"{ph}: no decision for a run whose worker called kanban_complete ({bad})")
        if p["medic_rc"] is not None:
            check(p["medic_rc"] == 0, f"{ph}: medic ran to the end and exited 0 on SIGTERM (exit {p['medic_rc']})")
        if p["act_rc"] is not None:
            check(p["act_rc"] == 0, f"{ph}: medic act exited 0 on SIGTERM (exit {p['act_rc']})")
    print("\n-- delays (recorder: board events polled every 20 ms, times in ms):")
    for k, v in delays.items():
        print(f"   {k}: {'-' if v is None else f'{v:.0f} ms'}")
    print(f"\nSUMMARY act: {'PASS' if not fails else 'FAIL'} {len(fails)} check(s) failed")
    with open(os.path.join(top, "analysis.json"), "w") as f:
        json.dump({"fails": fails, "delays_ms": delays}, f, indent=1)
    return 1 if fails else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--hermes-src", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--variant", required=True, choices=SETUP_VARIANTS)
    p = sub.add_parser("subscribe")
    p.add_argument("socket")
    p.add_argument("out")
    p = sub.add_parser("drive")
    p.add_argument("--hermes-src", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument("--run-s", type=float, default=90.0)
    p = sub.add_parser("analyze")
    p.add_argument("--work", required=True)
    p.add_argument("--variant", required=True, choices=VARIANTS)
    p.add_argument("--medic-rc", type=int)
    p = sub.add_parser("record")
    p.add_argument("--hermes-src", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--interval-ms", type=float, default=20.0)
    p = sub.add_parser("act-drive")
    p.add_argument("--hermes-src", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--phase", required=True, choices=sorted(ACT_PHASES))
    p.add_argument("--tick-s", type=float, default=60.0)
    p.add_argument("--run-s", type=float, default=180.0)
    p = sub.add_parser("act-analyze")
    p.add_argument("--work", required=True)
    p.add_argument("--hermes", help="the hermes wrapper act ran (shown as `hermes`)")
    a = ap.parse_args()
    if a.cmd == "setup":
        cmd_setup(a)
    elif a.cmd == "subscribe":
        cmd_subscribe(a)
    elif a.cmd == "drive":
        cmd_drive(a)
    elif a.cmd == "analyze":
        sys.exit(cmd_analyze(a))
    elif a.cmd == "record":
        cmd_record(a)
    elif a.cmd == "act-drive":
        cmd_act_drive(a)
    elif a.cmd == "act-analyze":
        sys.exit(cmd_act_analyze(a))


if __name__ == "__main__":
    main()
