#!/usr/bin/env python3
"""Record a golden trace of Hermes's real Kanban dispatcher, for replay in medic's tests.

  hermes_trace.py record HERMES_SRC OUT.json --variant observe|trailer|wal|rotate
                  [--commit SHA] [--work DIR] [--run-s 90]

Runs the conformance scenarios (scripts/hermes_conformance.py: the same boards, tasks, fake
worker and Hermes's own dispatch_once tick; no medic) while a recorder thread polls every
10 ms and writes what a watcher of the Hermes root would have seen: board rows and events,
worker spawns, log bytes and rotations, workspace files, exits (from the fake worker's side
file) and reaps.  The format is described in tests/data/traces/README.md.  Run it with the
Python that has Hermes's dependencies (e.g. /usr/bin/python3 on Debian).
"""
import argparse
import base64
import json
import os
import shutil
import sqlite3
import stat
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, HERE)
import hermes_conformance as hc  # noqa: E402

POLL_S = 0.010
MAX_FILE = 64 * 1024
READ_CHUNK = 64 * 1024


class Recorder:
    def __init__(self, kb, scen, work):
        self.kb = kb
        self.scen = scen
        self.work = work
        self.exits_path = os.environ["MEDIC_FAKE_EXITS"]
        self.steps = []            # [t_ms, seq, step]
        self.seq = 0
        self.mono0 = None
        self.conns = {}
        self.cursor = {b: 0 for b in hc.BOARDS}
        self.logs = {}             # (board, name) -> {"fd", "ino", "off", "task", "idx": [step indices]}
        self.logs_dir = {b: str(kb.worker_logs_dir(board=hc.board_arg(b))) for b in hc.BOARDS}
        self.db_path = {b: str(kb.kanban_db_path(board=hc.board_arg(b))) for b in hc.BOARDS}
        self.exits_off = 0
        self.exits_buf = b""
        self.pending_exits = []    # [rec, first_seen_monotonic]
        self.exited = set()        # pids whose exit is recorded
        self.exit_t = {}           # pid -> t_ms of its exit step
        self.spawned = {}          # pid -> (board, task)
        self.reaped = set()
        self.stop = threading.Event()
        self.first_poll = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, name="trace-recorder", daemon=True)

    # ------------------------------------------------------------ helpers
    def t_ms(self, mono_ns=None):
        return int(((mono_ns if mono_ns is not None else time.monotonic_ns()) - self.mono0) // 1_000_000)

    def emit(self, t, step):
        step = {"t_ms": t, **step}
        self.steps.append([t, self.seq, step])
        self.seq += 1
        return len(self.steps) - 1

    def conn(self, b):
        c = self.conns.get(b)
        if c is None:
            c = sqlite3.connect(f"file:{self.db_path[b]}?mode=ro", uri=True, isolation_level=None)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA busy_timeout = 5000")
            self.conns[b] = c
        return c

    # ------------------------------------------------------------ board rows and events
    def poll_events(self, t):
        for b in hc.BOARDS:
            c = self.conn(b)
            c.execute("BEGIN")
            try:
                evs = c.execute("SELECT * FROM task_events WHERE id > ? ORDER BY id", (self.cursor[b],)).fetchall()
                rows = {}
                for e in evs:
                    tid = e["task_id"]
                    if tid not in rows:
                        rows[tid] = (
                            [dict(r) for r in c.execute("SELECT * FROM tasks WHERE id = ?", (tid,))],
                            [dict(r) for r in c.execute("SELECT * FROM task_runs WHERE task_id = ? ORDER BY id", (tid,))],
                        )
            finally:
                c.execute("COMMIT")
            for e in evs:
                tasks, runs = rows[e["task_id"]]
                self.emit(t, {"op": "rows", "board": b, "tasks": tasks, "task_runs": runs})
                ev = {k: e[k] for k in ("id", "task_id", "run_id", "kind", "payload", "created_at")}
                self.emit(t, {"op": "event", "board": b, "event": ev})
                self.cursor[b] = e["id"]
                if e["kind"] == "spawned" and e["payload"]:
                    try:
                        pid = int(json.loads(e["payload"])["pid"])
                    except (ValueError, KeyError, TypeError):
                        continue
                    if pid not in self.spawned:
                        self.spawned[pid] = (b, e["task_id"])
                        self.emit(t, {"op": "spawn", "board": b, "task_id": e["task_id"],
                                      "run_id": e["run_id"], "pid": pid})

    # ------------------------------------------------------------ worker logs
    def poll_logs(self, t, only=None):
        for b in hc.BOARDS:
            d = self.logs_dir[b]
            try:
                names = os.listdir(d) if only is None else [only[1]] if only[0] == b else []
            except FileNotFoundError:
                continue
            for name in sorted(names):
                if not (name.startswith("t_") and name.endswith(".log")):
                    continue
                self.poll_log(t, b, name)

    def _read_new(self, t, b, name, st):
        while True:
            data = os.pread(st["fd"], READ_CHUNK, st["off"])
            if not data:
                return
            i = self.emit(t, {"op": "log", "board": b, "file": name, "offset": st["off"],
                              "data_b64": base64.b64encode(data).decode()})
            st["idx"].append(i)
            st["off"] += len(data)

    def poll_log(self, t, b, name):
        path = os.path.join(self.logs_dir[b], name)
        key = (b, name)
        st = self.logs.get(key)
        if st is not None:
            self._read_new(t, b, name, st)   # the tail of the file we hold open (even if renamed)
        try:
            cur = os.stat(path)
        except FileNotFoundError:
            return                           # rotated away, the new file not there yet
        if st is not None and cur.st_ino == st["ino"] and cur.st_size >= st["off"]:
            return
        if st is not None:                   # inode changed (rotation) or the file shrank
            i = self.emit(t, {"op": "rotate", "board": b, "file": name})
            st["idx"].append(i)
            os.close(st["fd"])
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            self.logs.pop(key, None)
            return
        ino = os.fstat(fd).st_ino
        self.logs[key] = st = {"fd": fd, "ino": ino, "off": 0, "idx": st["idx"] if st else []}
        self._read_new(t, b, name, st)

    # ------------------------------------------------------------ exits, files, reaps
    def read_exit_lines(self):
        try:
            with open(self.exits_path, "rb") as f:
                f.seek(self.exits_off)
                data = f.read()
        except FileNotFoundError:
            return
        self.exits_off += len(data)
        self.exits_buf += data
        while b"\n" in self.exits_buf:
            line, self.exits_buf = self.exits_buf.split(b"\n", 1)
            if line.strip():
                self.pending_exits.append([json.loads(line), time.monotonic()])

    def workspace_files(self, b, tid):
        c = self.conn(b)
        row = c.execute("SELECT workspace_path FROM tasks WHERE id = ?", (tid,)).fetchone()
        ws = row[0] if row else None
        if not ws or not os.path.isdir(ws) or os.path.islink(ws):
            return None
        files = {}
        for dirpath, dirnames, filenames in os.walk(ws, followlinks=False):
            dirnames.sort()
            for fn in sorted(filenames):
                p = os.path.join(dirpath, fn)
                try:
                    st = os.lstat(p)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_FILE:
                    continue
                try:
                    with open(p, "rb") as f:
                        data = f.read(MAX_FILE + 1)
                except OSError:
                    continue
                if len(data) <= MAX_FILE:
                    files[os.path.relpath(p, ws)] = base64.b64encode(data).decode()
        return files

    def record_exit(self, rec):
        pid, tid = int(rec["pid"]), rec["task"]
        b = self.scen.get(tid, {}).get("board") or (self.spawned.get(pid) or ("default",))[0]
        te = self.t_ms(rec["mono_ns"]) if rec.get("mono_ns") else \
            int((rec["exit_ns"] - self.wall0_ns) // 1_000_000)
        te = max(te, 0)
        # Every byte the worker wrote is in its log now; bytes read after its exit (the
        # trailer comes after the side-file line) are stamped with the exit's time.
        self.poll_logs(te, only=(b, f"{tid}.log"))
        st = self.logs.get((b, f"{tid}.log"))
        if st:
            for i in st["idx"]:
                if self.steps[i][0] > te:
                    self.steps[i][0] = te
                    self.steps[i][2]["t_ms"] = te
            st["idx"] = []
        files = self.workspace_files(b, tid)
        if files is not None:
            self.emit(te, {"op": "files", "board": b, "task_id": tid, "files": files})
        status = int(rec["signal"]) if rec.get("signal") else (int(rec["rc"]) & 0xFF) << 8
        self.emit(te, {"op": "exit", "pid": pid, "status": status})
        self.exited.add(pid)
        self.exit_t[pid] = te

    def poll_exits(self, t):
        self.read_exit_lines()
        keep = []
        for rec, seen in self.pending_exits:
            state = hc.pid_state(int(rec["pid"]))
            if state == "alive" and time.monotonic() - seen < 2.0:
                keep.append([rec, seen])      # still writing its last bytes (the trailer)
                continue
            self.record_exit(rec)
        self.pending_exits = keep

    def poll_reaps(self, t):
        for pid in list(self.spawned):
            if pid in self.reaped or hc.pid_state(pid) != "gone":
                continue
            if pid not in self.exited:
                self.read_exit_lines()
                for item in list(self.pending_exits):
                    if int(item[0]["pid"]) == pid:
                        self.record_exit(item[0])
                        self.pending_exits.remove(item)
            if pid not in self.exited:
                # No side-file line (killed before it could write one): the status Hermes reaped.
                ent = getattr(self.kb, "_recent_worker_exits", {}).get(pid)
                if ent is not None:
                    self.emit(t, {"op": "exit", "pid": pid, "status": int(ent[0])})
                    self.exited.add(pid)
                    self.exit_t[pid] = t
            # stamped when seen gone (a poll can outlast the exit it then sees reaped)
            self.emit(max(self.t_ms(), self.exit_t.get(pid, 0)), {"op": "reap", "pid": pid})
            self.reaped.add(pid)

    # ------------------------------------------------------------ loop
    def poll(self, t=None):
        t = self.t_ms() if t is None else t
        self.poll_events(t)
        self.poll_logs(t)
        self.poll_exits(t)
        self.poll_reaps(t)

    def _run(self):
        try:
            self.poll(0)
            # workspaces that exist before the first run (scenario R's saved evidence)
            for tid, s in self.scen.items():
                files = self.workspace_files(s["board"], tid)
                if files:
                    self.emit(0, {"op": "files", "board": s["board"], "task_id": tid, "files": files})
            self.first_poll.set()
            while not self.stop.is_set():
                time.sleep(POLL_S)
                self.poll()
            time.sleep(0.2)
            self.poll()
            for rec, _ in self.pending_exits:
                self.record_exit(rec)
        except BaseException as e:  # noqa: BLE001 - re-raised in the main thread
            self.error = e
            self.first_poll.set()
        finally:
            for c in self.conns.values():
                c.close()
            for st in self.logs.values():
                os.close(st["fd"])

    def start(self):
        self.mono0 = time.monotonic_ns()
        self.wall0_ns = time.time_ns()
        self.thread.start()
        self.first_poll.wait()
        if self.error:
            raise self.error

    def finish(self):
        self.stop.set()
        self.thread.join()
        if self.error:
            raise self.error
        self.steps.sort(key=lambda s: (s[0], s[1]))
        return [s[2] for s in self.steps]


def record(a):
    # A fixed default place, so every trace names the same paths (<work>/root is the Hermes
    # root, <work>/ws-dir and <work>/ws-resume the `dir` workspaces) and a replay can map them.
    work = os.path.abspath(a.work or os.path.join(tempfile.gettempdir(), "medic-trace", a.variant))
    marker = os.path.join(work, ".medic-trace")
    if os.path.exists(work):
        if not os.path.exists(marker):
            sys.exit(f"{work} exists and was not made by hermes_trace.py: remove it or pass --work")
        shutil.rmtree(work)
    os.makedirs(work)
    open(marker, "w").close()
    kb, modes = hc.setup_root(a.hermes_src, work, a.variant)
    os.environ["MEDIC_FAKE_RESETS_AT"] = str(int(time.time()) + 3600)
    scen = hc.create_scenarios(kb, work)
    rec = Recorder(kb, scen, work)
    rec.start()
    ticks = hc.run_dispatcher(kb, run_s=a.run_s, log=lambda s: print(s, file=sys.stderr, flush=True))
    steps = rec.finish()
    left = hc.pending_tasks(kb)
    trace = {
        "format": 1,
        "hermes_commit": a.commit or "unknown",
        "variant": a.variant,
        "journal_mode": modes["default"],
        "scenarios": scen,
        "steps": steps,
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("{" + ", ".join(f"{json.dumps(k)}: {json.dumps(trace[k], ensure_ascii=False)}"
                               for k in ("format", "hermes_commit", "variant", "journal_mode", "scenarios")))
        f.write(', "steps": [\n')
        f.write(",\n".join(json.dumps(s, ensure_ascii=False, separators=(",", ":")) for s in steps))
        f.write("\n]}\n")
    os.replace(tmp, a.out)
    ops = {}
    for s in steps:
        ops[s["op"]] = ops.get(s["op"], 0) + 1
    print(f"{a.out}: variant {a.variant}, journal_mode {modes['default']}, {len(steps)} steps "
          f"({', '.join(f'{k}={v}' for k, v in sorted(ops.items()))}), last t_ms {steps[-1]['t_ms'] if steps else 0}, "
          f"{len(ticks)} busy ticks, {left} task(s) not done/blocked; work dir {work}")
    return 0 if left == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("record", help="record one variant's trace")
    p.add_argument("hermes_src")
    p.add_argument("out")
    p.add_argument("--variant", required=True, choices=hc.VARIANTS)
    p.add_argument("--commit", help="the Hermes commit HERMES_SRC was taken from (recorded as is)")
    p.add_argument("--work", help="work dir; the Hermes root is WORK/root (default $TMPDIR/medic-trace/VARIANT, "
                   "emptied first)")
    p.add_argument("--run-s", type=float, default=90.0, help="dispatcher deadline (default 90)")
    a = ap.parse_args()
    if not os.path.isfile(os.path.join(a.hermes_src, "hermes_cli", "kanban_db.py")):
        sys.exit(f"{a.hermes_src} is not a Hermes source tree (no hermes_cli/kanban_db.py)")
    sys.exit(record(a))


if __name__ == "__main__":
    main()
