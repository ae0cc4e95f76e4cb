#!/usr/bin/env python3
"""Connects to medic's socket and prints, in ms, how long its hello line took: a client in a
process of its own, so that what the caller's other threads do cannot delay it."""
import socket
import sys
import time

t0 = time.time()
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
buf = b""
while b"\n" not in buf:
    chunk = s.recv(4096)
    if not chunk:
        print("inf")
        sys.exit(1)
    buf += chunk
print((time.time() - t0) * 1000 if b'"type":"hello"' in buf.split(b"\n", 1)[0] else "inf")
