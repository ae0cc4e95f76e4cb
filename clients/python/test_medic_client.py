"""The Python client against the real daemon: a real board (Hermes's schema), a real
log, the real socket. Run by ctest: python3 test_medic_client.py MEDIC SCHEMA RULES."""

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from medic_client import Subscriber  # noqa: E402

MEDIC, SCHEMA, RULES = sys.argv[1:4]


class ClientTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="medic-py-")
        self.root = os.path.join(self.dir, "hermes")
        os.makedirs(os.path.join(self.root, "kanban", "logs"))
        self.db = sqlite3.connect(os.path.join(self.root, "kanban.db"))
        self.db.execute("PRAGMA journal_mode=WAL")
        with open(SCHEMA) as f:
            self.db.executescript(f.read())
        self.sock = os.path.join(self.dir, "s.sock")
        self.start()

    def start(self):
        self.medic = subprocess.Popen(
            [MEDIC, "run", "--hermes-root", self.root, "--state-dir", os.path.join(self.dir, "state"),
             "--socket", self.sock, "--rules", RULES], stderr=open(os.path.join(self.dir, "medic.log"), "a"))
        deadline = time.time() + 10
        while not os.path.exists(self.sock) and time.time() < deadline:
            time.sleep(0.01)

    def stop(self):
        self.medic.send_signal(signal.SIGTERM)
        self.medic.wait(10)

    def tearDown(self):
        self.stop()

    def worker_fails(self, task, text):
        now = int(time.time())
        self.db.execute("INSERT INTO tasks (id,title,assignee,status,created_at) VALUES (?,?,?,?,?)",
                        (task, "t", "researcher", "running", now))
        run = self.db.execute("INSERT INTO task_runs (task_id,status,started_at) VALUES (?,?,?)",
                              (task, "running", now)).lastrowid
        self.db.execute("INSERT INTO task_events (task_id,run_id,kind,payload,created_at) VALUES (?,?,?,?,?)",
                        (task, run, "claimed", '{"run_id":%d}' % run, now))
        self.db.commit()
        with open(os.path.join(self.root, "kanban", "logs", task + ".log"), "a") as f:
            f.write(text + "\n[kanban-worker-exit] rc=1\n")

    def test_yields_decisions_in_order_and_resumes_after_a_restart(self):
        sub = Subscriber(self.sock, since=0, timeout_s=10, retry_delay_s=0.05)
        stream = sub.messages()
        self.worker_fails("t_1", "Error: Unknown skill(s): kanban-worker")
        first = next(stream)
        self.assertEqual(first["type"], "decision")
        self.assertEqual(first["task_id"], "t_1")
        self.assertEqual(first["action"], "repair_env")
        # The daemon restarts; the client reconnects and asks for what came after.
        self.stop()
        self.start()
        self.worker_fails("t_2", "openai.APITimeoutError: Request timed out.")
        second = next(stream)
        self.assertEqual(second["task_id"], "t_2")
        self.assertEqual(second["seq"], first["seq"] + 1)
        self.assertGreaterEqual(sub.reconnects, 1)

    def test_a_new_subscriber_replays_from_since(self):
        self.worker_fails("t_a", "Error: Unknown skill(s): kanban-worker")
        self.worker_fails("t_b", "openai.APITimeoutError: Request timed out.")
        got = []
        for msg in Subscriber(self.sock, since=0, timeout_s=5).messages():
            if msg["type"] == "decision":
                got.append(msg["task_id"])
            if len(got) == 2:
                break
        self.assertEqual(sorted(got), ["t_a", "t_b"])


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
