"""A dispatcher's client for medic's decision socket (standard library only).

    from medic_client import Subscriber

    sub = Subscriber("/run/user/1000/medic.sock", since=state.get("seq", 0))
    for msg in sub.messages():
        if msg["type"] == "decision":
            apply(msg)                 # retry_at, retry, block, repair_auth, ...
        state["seq"] = msg["seq"]      # persist it: the next start resumes from here

The daemon numbers every message with a gap-free ``seq``. The subscriber asks for
everything after the last seq it handed out, so a reconnect (daemon restart, or a client
cut off for reading too slowly) neither loses nor repeats a message. ``hello`` messages
are consumed; ``error`` messages end the connection and trigger a reconnect.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Iterator, Optional


class Subscriber:
    def __init__(self, path: str, since: int = 0, reconnect: bool = True,
                 retry_delay_s: float = 0.5, timeout_s: Optional[float] = None):
        self.path = path
        self.since = since
        self.reconnect = reconnect
        self.retry_delay_s = retry_delay_s
        self.timeout_s = timeout_s  # None: block forever waiting for the next message
        self.reconnects = 0

    def _connect(self) -> socket.socket:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(self.timeout_s)
        s.connect(self.path)
        s.sendall(json.dumps({"op": "subscribe", "since": self.since}).encode() + b"\n")
        return s

    def messages(self) -> Iterator[dict]:
        """Yields every message with a seq, in order, across reconnects."""
        while True:
            try:
                conn = self._connect()
            except OSError:
                if not self.reconnect:
                    raise
                time.sleep(self.retry_delay_s)
                continue
            buf = b""
            try:
                while True:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break  # the daemon closed the connection
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        msg = json.loads(line)
                        if msg.get("type") == "error":
                            raise ConnectionResetError(msg.get("reason", "error"))
                        seq = msg.get("seq")
                        if seq is None or seq <= self.since:
                            continue  # hello, or a replayed message already handed out
                        self.since = seq
                        yield msg
            except socket.timeout:
                conn.close()
                return
            except (ConnectionResetError, OSError):
                pass
            finally:
                conn.close()
            if not self.reconnect:
                return
            self.reconnects += 1
            time.sleep(self.retry_delay_s)
