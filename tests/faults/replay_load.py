#!/usr/bin/env python3
"""Issue 11 item 8: a `since 0` replay of many decisions is paced and holds up neither live
decisions nor other clients.

Fills the journal with N decision lines (a journal medic wrote is the same shape), starts
medic, and while one client reads `since 0` at full speed: connects other clients and times
their hello, and times one live exit from its trailer to its decision. Prints the replay's
time, the hello latencies, the live decision's delay and medic's RSS (now and peak)."""
import json
import os
import subprocess
import sys
import threading
import time

from common import Client, Setup

HERE = os.path.dirname(os.path.abspath(__file__))

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
s = Setup()
os.makedirs(os.path.join(s.state, "journal"), exist_ok=True)
with open(os.path.join(s.state, "journal", "%020d.ndjson" % 1), "w") as f:
    for seq in range(1, N + 1):
        f.write(json.dumps({"type": "decision", "seq": seq, "id": f"default/t_old{seq}/1", "task_id": f"t_old{seq}",
                            "run_id": 1, "board": "default", "class": "timeout", "action": "retry",
                            "reason": "a decision of an earlier day " + "x" * 200, "decided_at": 1}) + "\n")
    # medic syncs its journal every second, so its dirty pages are at most a second's lines;
    # 300 MB left dirty here would be flushed by medic's first sync, a cost no real journal has.
    f.flush()
    os.fsync(f.fileno())
s.start()
done = {}


def replay():
    c = Client(s.sock, 0)
    t0 = time.time()
    n = 0
    while n < N:
        m = c.next(30)
        if m is None:
            break
        if m.get("seq", 0) >= 1 and m.get("type") == "decision" and m["id"].startswith("default/t_old"):
            n += 1
    done["replay_s"] = time.time() - t0
    done["replayed"] = n


t = threading.Thread(target=replay)
t.start()
time.sleep(0.05)
hellos = []
for _ in range(10):
    # In a process of its own: in this one, the replay thread's parsing holds the GIL.
    out = subprocess.run([sys.executable, os.path.join(HERE, "hello_once.py"), s.sock], capture_output=True, text=True)
    hellos.append(float(out.stdout.strip() or "inf"))
    time.sleep(0.05)
watch = Client(s.sock, N)
watch.next(5)
s.claim("t_live")
time.sleep(0.3)
t0 = time.time()
with open(os.path.join(s.logs, "t_live.log"), "a") as f:
    f.write("Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n")
live = None
while True:
    m = watch.next(10)
    if m is None:
        break
    if m.get("type") == "decision" and m.get("task_id") == "t_live":
        live = (time.time() - t0) * 1000
        break
t.join()
# Peak and current memory of medic after holding and replaying N decisions (issue 13: a
# daemon's memory must not grow with its journal).
with open(f"/proc/{s.proc.pid}/status") as st:
    mem = {k: v.strip() for k, v in (line.split(":", 1) for line in st if line.startswith(("VmHWM", "VmRSS")))}
s.stop()
print(f"replay: {done.get('replayed')} of {N} decisions since 0 in {done.get('replay_s', 0):.2f} s; "
      f"hello during it: max {max(hellos):.1f} ms, median {sorted(hellos)[len(hellos) // 2]:.1f} ms; "
      f"a live exit decided {live:.1f} ms after its trailer; medic RSS {mem.get('VmRSS')}, peak {mem.get('VmHWM')}"
      if live is not None else "live exit: no decision")
sys.exit(0 if done.get("replayed") == N and live is not None else 1)
