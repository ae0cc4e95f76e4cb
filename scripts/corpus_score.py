#!/usr/bin/env python3
"""Scores rules against the labelled corpus with the real `medic scan --json`, as the corpus
test does: a line's label is its highest-priority hit (benign when none). Prints per-class
accuracy, each miss and each wrong field. For rule authors iterating on rules/.

  scripts/corpus_score.py [--medic build/medic] [--rules rules] [--quiet] [FILE.jsonl ...]
"""
import argparse
import collections
import glob
import json
import os
import subprocess
import sys
import tempfile

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--medic", default=os.path.join(root, "build", "medic"))
ap.add_argument("--rules", default=os.path.join(root, "rules"))
ap.add_argument("--quiet", action="store_true", help="totals only")
ap.add_argument("files", nargs="*")
args = ap.parse_args()
files = args.files or sorted(glob.glob(os.path.join(root, "tests/data/corpus/*.jsonl")))

rows = []
for f in files:
    with open(f, encoding="utf-8") as fh:
        for n, text in enumerate(fh, 1):
            r = json.loads(text)
            r["_where"] = f"{os.path.basename(f)}:{n}"
            rows.append(r)

with tempfile.NamedTemporaryFile("w", suffix=".log", delete=False, encoding="utf-8") as tmp:
    for r in rows:
        tmp.write(r["line"] + "\n")
out = subprocess.run([args.medic, "scan", "--json", "--rules", args.rules, tmp.name],
                     capture_output=True, text=True, check=True).stdout
os.unlink(tmp.name)

best = {}
for text in out.splitlines():
    h = json.loads(text)
    if h.get("class") is None:
        continue
    b = best.get(h["line"])
    if b is None or h["priority"] > b["priority"]:
        best[h["line"]] = h

per = collections.defaultdict(lambda: [0, 0])
right = field_errors = 0
for i, r in enumerate(rows, 1):
    h = best.get(i)
    got = h["class"] if h else "benign"
    per[r["class"]][1] += 1
    if got != r["class"]:
        if not args.quiet:
            print(f"MISS {r['_where']}: want {r['class']}, got {got}"
                  f"{' (' + h['rule'] + ')' if h else ''}: {r['line'][:200]}")
        continue
    right += 1
    per[r["class"]][0] += 1
    fields = (h or {}).get("fields", {})
    for k in ("retry_after_s", "resets_at"):
        want = r.get(k)
        if want is None:
            continue
        have = fields.get(k)
        if have is None or abs(float(have) - float(want)) > 1e-6:
            field_errors += 1
            if not args.quiet:
                print(f"FIELD {r['_where']}: {k} want {want} got {have}: {r['line'][:200]}")
for cls in sorted(per):
    ok, n = per[cls]
    print(f"{cls:20s} {ok:4d} / {n:4d}  {100.0 * ok / n:5.1f} %")
print(f"corpus: {right} / {len(rows)} right ({100.0 * right / len(rows):.1f} %), {field_errors} field errors,"
      f" {len({r.get('tool') or r.get('provider') for r in rows})} tools")
