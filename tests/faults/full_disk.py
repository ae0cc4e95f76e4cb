#!/usr/bin/env python3
"""Fills the state dir's filesystem while medic writes decisions, frees it, restarts medic,
and checks: it starts, says what it cut, and every seq after is gap-free."""
import os
import sys
import time

from common import Client, Setup

state = sys.argv[1]
s = Setup(state_dir=state)
s.start()
c = Client(s.sock, 0)
c.next(2)
# Fill the filesystem, then give back one page: the journal's lines stop fitting whole.
fd = os.open(os.path.join(state, "filler"), os.O_WRONLY | os.O_CREAT, 0o644)
try:
    while True:
        os.write(fd, b"x" * 4096)
except OSError:
    pass
os.ftruncate(fd, max(0, os.fstat(fd).st_size - 4096))
os.close(fd)
for i in range(20):
    s.claim(f"t_full{i}")
    with open(os.path.join(s.logs, f"t_full{i}.log"), "a") as f:
        f.write("Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n")
time.sleep(2)
# Space returns while medic runs: the decisions that waited are journaled and published.
os.remove(os.path.join(state, "filler"))
ids = set()
while True:
    m = c.next(3)
    if m is None:
        break
    if m.get("type") == "decision":
        ids.add(m["id"])
s.stop()
# And a restart reads the journal back whole.
s.start()
c = Client(s.sock, 0)
seqs = []
while True:
    m = c.next(2)
    if m is None:
        break
    if "seq" in m:
        seqs.append(m["seq"])
s.stop()
log = s.medic_log()
gapfree = seqs == list(range(1, len(seqs) + 1))
print(f"full disk: {len(ids)} of 20 decisions published once space returned; after a restart {len(seqs)} "
      f"messages replay, seq gap-free: {gapfree}; journal write failures logged: {log.count('journal write failed')}")
sys.exit(0 if len(ids) == 20 and gapfree else 1)
