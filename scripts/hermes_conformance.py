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

Run with the Python that has Hermes's dependencies (scripts/conformance.sh: $PYTHON).
scripts/hermes_trace.py imports the scenario and dispatcher code from here.
"""
import argparse
import json
import os
import signal
import socket
import sqlite3
import sys
import time
from collections import defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
BOARDS = ["default", "proj"]
VARIANTS = ["observe", "trailer", "wal", "rotate"]
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


def board_arg(b):
    return None if b == "default" else b


# ---------------------------------------------------------------- Hermes environment

def hermes_env(src, work, variant, resets_at=None):
    """Point this process (and, through Hermes, its workers) at the work dir's Hermes root.
    Must run before hermes_cli is imported."""
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
    if variant not in VARIANTS:
        sys.exit(f"unknown variant {variant} (one of {', '.join(VARIANTS)})")
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


def create_scenarios(kb, work):
    """Creates the scenario tasks with Hermes's create_task; writes plan.json for the worker.
    Returns {task_id: {"key", "board", "plan"}} in creation order."""
    scen = {}
    for key, board, plan, kw in SCENARIOS:
        kw = dict(kw)
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


def run_dispatcher(kb, run_s=90.0, tick_s=1.0, linger_s=6.0, log=None):
    """Hermes's real dispatcher tick on both boards until every task is done/blocked (or
    run_s), then a few more ticks so Hermes reaps its last workers.  Returns the tick log.
    Leftover workers (still alive at the end) are killed by pid."""
    ticks = []
    deadline = time.time() + run_s
    linger_until = None
    while True:
        for b in BOARDS:
            with kb.connect_closing(board=board_arg(b)) as conn:
                r = kb.dispatch_once(conn, board=board_arg(b))
            act = {k: getattr(r, k) for k in ("spawned", "crashed", "timed_out", "auto_blocked",
                                             "rate_limited", "respawn_guarded", "skipped_nonspawnable")
                   if getattr(r, k, None)}
            if act:
                act = {k: [list(x) if isinstance(x, tuple) else x for x in v] for k, v in act.items()}
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
    for p in spawned_pids(kb):
        if pid_state(p) == "alive" and is_our_worker(p):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
    kb.reap_worker_zombies()
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


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("setup")
    p.add_argument("--hermes-src", required=True)
    p.add_argument("--work", required=True)
    p.add_argument("--variant", required=True, choices=VARIANTS)
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
    a = ap.parse_args()
    if a.cmd == "setup":
        cmd_setup(a)
    elif a.cmd == "subscribe":
        cmd_subscribe(a)
    elif a.cmd == "drive":
        cmd_drive(a)
    elif a.cmd == "analyze":
        sys.exit(cmd_analyze(a))


if __name__ == "__main__":
    main()
