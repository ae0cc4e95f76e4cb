"""Shared pieces of the fault scripts: a throw-away Hermes root with a real board (the
project's copy of Hermes's schema), the real medic daemon, and a socket client."""
import json
import os
import socket
import sqlite3
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEDIC = os.environ.get("MEDIC", os.path.join(ROOT, "build", "medic"))
SCHEMA = os.path.join(ROOT, "src", "app", "demo", "hermes_schema.sql")


class Setup:
    def __init__(self, state_dir=None):
        self.dir = tempfile.mkdtemp(prefix="medic-fault-")
        self.root = os.path.join(self.dir, "root")
        self.logs = os.path.join(self.root, "kanban", "logs")
        os.makedirs(self.logs)
        self.state = state_dir or os.path.join(self.dir, "state")
        self.sock = os.path.join(self.dir, "s.sock")
        self.db = sqlite3.connect(os.path.join(self.root, "kanban.db"), isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(open(SCHEMA).read())
        self.proc = None

    def start(self, *extra):
        self.log = open(os.path.join(self.dir, "medic.log"), "a")
        self.proc = subprocess.Popen([MEDIC, "run", "--hermes-root", self.root, "--state-dir", self.state,
                                      "--socket", self.sock, "--rules", os.path.join(ROOT, "rules"), *extra],
                                     stderr=self.log)
        for _ in range(int(os.environ.get("MEDIC_START_WAIT_S", "5")) * 100):
            if os.path.exists(self.sock):
                try:
                    c = socket.socket(socket.AF_UNIX)
                    c.connect(self.sock)
                    c.close()
                    return
                except OSError:
                    pass
            time.sleep(0.01)
        raise SystemExit("medic did not start: " + open(os.path.join(self.dir, "medic.log")).read()[-2000:])

    def stop(self):
        if self.proc:
            self.proc.terminate()
            self.proc.wait()
            self.proc = None

    def claim(self, task):
        now = int(time.time())
        self.db.execute("INSERT INTO tasks (id, title, assignee, status, created_at) VALUES (?,?,?,?,?)",
                        (task, "fault " + task, "researcher", "running", now))
        cur = self.db.execute("INSERT INTO task_runs (task_id, status, started_at) VALUES (?, 'running', ?)",
                              (task, now))
        run = cur.lastrowid
        self.db.execute("UPDATE tasks SET current_run_id=? WHERE id=?", (run, task))
        self.db.execute("INSERT INTO task_events (task_id, run_id, kind, payload, created_at) VALUES (?,?,?,?,?)",
                        (task, run, "claimed", json.dumps({"run_id": run}), now))
        return run

    def medic_log(self):
        return open(os.path.join(self.dir, "medic.log")).read()


class Client:
    def __init__(self, path, since=None):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.buf = b""
        if since is not None:
            self.s.sendall(json.dumps({"op": "subscribe", "since": since}).encode() + b"\n")

    def next(self, timeout):
        self.s.settimeout(timeout)
        while b"\n" not in self.buf:
            try:
                chunk = self.s.recv(1 << 16)
            except socket.timeout:
                return None
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)
