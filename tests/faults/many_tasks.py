#!/usr/bin/env python3
"""Issue 13: what a daemon that runs for months keeps per task it has decided.

Starts medic (extra arguments are passed to `medic run`, e.g. `--config forget.yaml`),
then has N tasks claimed and crashed on the board, 1,000 at a time, reading each decision
from the socket; with PACE_S it waits that long after each thousand and prints medic's RSS
every 10,000 tasks. At the end, after SETTLE_S seconds: the size of state.json and medic's
RSS (now and peak). MEDIC runs another binary (a before/after comparison)."""
import json
import os
import sys
import time

from common import Client, Setup

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
s = Setup()
s.start(*sys.argv[2:])
c = Client(s.sock, 0)
t0 = time.time()
got = 0


def rss_kb(field="VmRSS"):
    return int([l.split()[1] for l in open("/proc/%d/status" % s.proc.pid) if l.startswith(field)][0])


for b in range(0, N, 1000):
    s.db.execute("BEGIN")
    for i in range(b, min(N, b + 1000)):
        t = "t_%07d" % i
        run = s.claim(t)
        s.db.execute("INSERT INTO task_events (task_id, run_id, kind, payload, created_at) VALUES (?,?,?,?,?)",
                     (t, run, "crashed", json.dumps({"pid": 1, "claimer": "x", "exit_code": 1,
                                                     "retry_status": "ready"}), int(time.time())))
    s.db.execute("COMMIT")
    while got < min(N, b + 1000):
        m = c.next(30)
        if m is None:
            raise SystemExit("no decision after %d" % got)
        if m.get("type") == "decision":
            got += 1
    if os.environ.get("PACE_S"):
        time.sleep(float(os.environ["PACE_S"]))
        if (b // 1000) % 10 == 9:
            print("after %d tasks: rss %d kB" % (b + 1000, rss_kb()), flush=True)
print("decisions %d in %.1f s" % (got, time.time() - t0))
time.sleep(float(os.environ.get("SETTLE_S", "2.5")))
print("state.json %d bytes; rss %d kB, peak %d kB" % (os.path.getsize(os.path.join(s.state, "state.json")),
                                                      rss_kb(), rss_kb("VmHWM")))
s.stop()
