#!/usr/bin/env python3
"""Issue 11 item 3: an inotify queue that overflows must not lose exits until a restart.

Forces the kernel's per-instance queue small (fs.inotify.max_queued_events, needs root; the
old value is restored), makes N runs end at once by writing N logs with a failure line and
the exit trailer in one burst, and counts the decisions medic publishes without a restart.
Prints: decisions found, overflows medic logged, and the time to the last decision."""
import os
import sys
import time

from common import Client, Setup

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
KNOB = "/proc/sys/fs/inotify/max_queued_events"
old = open(KNOB).read().strip()
s = Setup()
try:
    # The limit is taken when an inotify instance is made: medic's is made at its start.
    with open(KNOB, "w") as f:
        f.write("16")
    s.start()
    with open(KNOB, "w") as f:
        f.write(old)
    c = Client(s.sock, 0)
    c.next(2)  # hello
    for i in range(N):
        s.claim(f"t_ovf{i}")
    time.sleep(1.0)  # the claims are read
    t0 = time.time()
    for i in range(N):
        with open(os.path.join(s.logs, f"t_ovf{i}.log"), "a") as f:
            f.write("Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n")
    ids = set()
    last = t0
    while len(ids) < N:
        m = c.next(15)
        if m is None:
            break
        if m.get("type") == "decision":
            ids.add(m["id"])
            last = time.time()
finally:
    with open(KNOB, "w") as f:
        f.write(old)
    s.stop()
log = s.medic_log()
overflows = log.count("inotify queue overflowed")
print(f"inotify overflow: {len(ids)} of {N} exits decided without a restart, in {last - t0:.2f} s; "
      f"medic logged {overflows} overflow(s) and rescanned")
sys.exit(0 if len(ids) == N and overflows > 0 else 1)
