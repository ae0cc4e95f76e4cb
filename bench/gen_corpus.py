#!/usr/bin/env python3
"""Writes benchmark log text: LogHub system-log lines (the background) with real
failure lines from the dev corpus injected at a fixed rate, deterministically.

usage: gen_corpus.py OUT SIZE_MIB [--every N] [--seed S]
"""
import argparse
import json
import os
import random

here = os.path.dirname(os.path.abspath(__file__))
corpus = os.path.join(here, "..", "tests", "data", "corpus")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("size_mib", type=int)
    ap.add_argument("--every", type=int, default=500, help="one failure line per N lines")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    background = []
    loghub = os.path.join(corpus, "loghub")
    for name in sorted(os.listdir(loghub)):
        if name.endswith(".log"):
            with open(os.path.join(loghub, name), "rb") as f:
                background += [l.rstrip(b"\r\n") + b"\n" for l in f if l.strip()]
    failures = []
    with open(os.path.join(corpus, "failures-dev.jsonl"), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["class"] != "benign":
                failures.append(row["line"].replace("\n", " ").encode() + b"\n")

    rng = random.Random(args.seed)
    target = args.size_mib << 20
    written = 0
    with open(args.out, "wb") as out:
        while written < target:
            block = []
            for i in range(20000):
                block.append(failures[rng.randrange(len(failures))] if i % args.every == args.every - 1
                             else background[rng.randrange(len(background))])
            data = b"".join(block)
            out.write(data[: target - written])
            written += min(len(data), target - written)


if __name__ == "__main__":
    main()
