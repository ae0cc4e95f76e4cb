#!/usr/bin/env python3
"""Writes the starting seed corpus of every fuzz target under tests/fuzz/corpus/<target>/
from real inputs: the shipped rules, the labelled failure corpus, the golden Hermes
traces, and the journal, decisions and checkpoint of a real daemon run on a real board.

Usage: tests/fuzz/make_seeds.py BUILD_DIR   (needs BUILD_DIR/medic)

Seeds whose target reads integers with FuzzedDataProvider carry those bytes at their end
(the provider takes integers from the end of the input). scripts/fuzz.sh adds what the
fuzzers find on top of these; both are replayed by ctest (`fuzz.*`)."""

import base64
import glob
import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    name = "seed-" + hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def labelled_lines():
    out = []
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/data/corpus/*.jsonl"))):
        with open(path, encoding="utf-8") as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def traces():
    for path in sorted(glob.glob(os.path.join(ROOT, "tests/data/traces/*.json"))):
        with open(path) as f:
            yield json.load(f)


def rule_reader_seeds():
    for path in sorted(glob.glob(os.path.join(ROOT, "rules/*.yaml"))):
        with open(path, "rb") as f:
            put("rule_reader", f.read())
    # What the reader must refuse, each on its own line.
    put("rule_reader", "- id: a\n  class: rate_limit\n  pattern: 'x{0,30000}'\n")
    put("rule_reader", "- id: a\n  class: no_such_class\n  pattern: 'x'\n")
    put("rule_reader", "- id: a\n  pattern: [unclosed\n")
    put("rule_reader", "- id: a\n  class: timeout\n  pattern: 'x'\n  extract:\n    retry_after_s: '(\\d+'\n")


def field_value_seeds():
    names = ["resets_at", "retry_after_s", "http_status", "rc", "provider", "model"]
    values = {
        "resets_at": ["1780861905", "1780861905123", "0", "-5", " 1789063622 "],
        "retry_after_s": ["9.816s", "174ms", "7m12s", "4h28m20s", "3 days 4 hours 5 minutes", "1h2m3.5s",
                          "\"26s\"", "86400 seconds", "2 minutes", "5s.", "soon", "3.2.1s"],
        "http_status": ["429", "42", "503"],
        "rc": ["-9", "0", "75"],
        "provider": [" openai-codex "],
        "model": ["gpt-5.5"],
    }
    for i, name in enumerate(names):
        for v in values[name]:
            put("field_value", v.encode() + bytes([i]))


def payload_seeds():
    seen = set()
    for t in traces():
        for s in t["steps"]:
            if s["op"] == "event" and s["event"].get("payload"):
                p = s["event"]["payload"]
                kind = s["event"]["kind"]
                if (kind, len(p) // 64) in seen:
                    continue
                seen.add((kind, len(p) // 64))
                put("payload", p)
    put("payload", '{"pid": 12, "exit_code": 1')  # torn
    put("payload", "[1,2,3]")


def line_framer_seeds():
    tail = bytes([7, 1, 3, 64, 2, 5, 0xff])  # chunk sizes, count, max line bytes (read from the end)
    logs = {}
    for t in traces():
        for s in t["steps"]:
            if s["op"] == "log":
                logs[s["file"]] = logs.get(s["file"], b"") + base64.b64decode(s["data_b64"])
    for i, data in enumerate(sorted(logs.values())[:24]):
        put("line_framer", data[:4096] + tail)
    lines = [r["line"] for r in labelled_lines()]
    for i in range(0, min(len(lines), 240), 12):
        put("line_framer", ("\n".join(lines[i:i + 12]) + "\n").encode() + tail)
    put("line_framer", b"Provider: openai\r\nHTTP 429 usage limit resets_at: 1780861905\r\ntimed out\n\x00missing" + tail)


def request_seeds():
    bounds = bytes([0, 0, 0, 0, 0, 0, 0, 1]) + bytes([0, 0, 0, 0, 0, 0, 0, 200])
    for line in ['{"op":"subscribe","since":0}', '{"op":"subscribe","since":150}', '{"op":"subscribe"}',
                 '{"op":"subscribe","since":-1}', '{"op":"publish"}', '{"since":3,"op":"subscribe","x":1}',
                 '{"op":"subscribe","since":18446744073709551615}', "not json"]:
        put("request", line.encode() + bounds)


def daemon_seeds(build):
    """Real journal lines, decisions and a checkpoint from the daemon on a real board."""
    medic = os.path.join(build, "medic")
    work = tempfile.mkdtemp(prefix="medic-seeds-")
    root = os.path.join(work, "hermes")
    logs = os.path.join(root, "kanban", "logs")
    os.makedirs(logs)
    db = sqlite3.connect(os.path.join(root, "kanban.db"))
    with open(os.path.join(ROOT, "src/app/demo/hermes_schema.sql")) as f:
        db.executescript(f.read())
    state = os.path.join(work, "state")
    sock = os.path.join(work, "s.sock")
    proc = subprocess.Popen([medic, "run", "--hermes-root", root, "--state-dir", state, "--socket", sock,
                             "--rules", os.path.join(ROOT, "rules")], stderr=open(os.environ.get("SEED_LOG", os.devnull), "w"))
    try:
        deadline = time.time() + 10
        while not os.path.exists(sock) and time.time() < deadline:
            time.sleep(0.02)
        picks, classes = [], set()
        for r in labelled_lines():
            key = (r["class"], r.get("resets_at") is not None, r.get("retry_after_s") is not None)
            if key not in classes:
                classes.add(key)
                picks.append(r["line"])
        now = int(time.time())
        for i, line in enumerate(picks):
            task = "t_seed%02d" % i
            db.execute("INSERT INTO tasks (id,title,assignee,status,created_at) VALUES (?,?,?,?,?)",
                       (task, "seed", "researcher", "running", now))
            run = db.execute("INSERT INTO task_runs (task_id,status,started_at) VALUES (?,?,?)",
                             (task, "running", now)).lastrowid
            db.execute("INSERT INTO task_events (task_id,run_id,kind,payload,created_at) VALUES (?,?,?,?,?)",
                       (task, run, "claimed", '{"run_id":%d}' % run, now))
            db.commit()
            with open(os.path.join(logs, task + ".log"), "a") as f:
                f.write("Provider: openai-codex  Model: gpt-5.5\n" + line + "\n[kanban-worker-exit] rc=1\n")
        # Read everything back through the socket: the decisions are in the journal then.
        c = socket.socket(socket.AF_UNIX)
        c.connect(sock)
        c.sendall(b'{"op":"subscribe","since":0}\n')
        c.settimeout(10)
        buf, decisions = b"", 0
        while decisions < len(picks):
            try:
                chunk = c.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            buf += chunk
            decisions = buf.count(b'"type":"decision"')
        c.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    for seg in sorted(glob.glob(os.path.join(state, "journal", "*.ndjson"))):
        with open(seg, "rb") as f:
            text = f.read()
        put("journal", text + b"\x00\x00")  # first_seq 1
        put("journal", text[: len(text) // 2] + b"\x00\x00")  # torn in the middle
        for line in text.splitlines():
            put("decision_codec", line)
    with open(os.path.join(state, "state.json"), "rb") as f:
        put("checkpoint", f.read())
    put("checkpoint", b'{"version":1,"cursors":{"default":')
    subprocess.run(["rm", "-rf", work], check=False)
    return decisions, len(picks)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    rule_reader_seeds()
    field_value_seeds()
    payload_seeds()
    line_framer_seeds()
    request_seeds()
    n = daemon_seeds(sys.argv[1])
    for t in sorted(os.listdir(CORPUS)):
        print("%-16s %4d seeds" % (t, len(os.listdir(os.path.join(CORPUS, t)))))
    print("daemon decisions:", n)


if __name__ == "__main__":
    main()
