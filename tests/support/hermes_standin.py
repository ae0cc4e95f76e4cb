#!/usr/bin/env python3
"""A stand-in for Hermes's `hermes kanban` CLI that refuses what the real one refuses.

Used by tests/integration/act_test.cpp in place of the real CLI, which cannot run in CI.
The verbs, their argument forms (argparse: `--opt value` or `--opt=value`, `--` before
positionals) and the statuses each accepts are those of NousResearch/hermes-agent at the
pinned reference commit aaf9688519cca58dd5f76a589a0911aff269b060 (hermes_cli/kanban.py,
hermes_cli/kanban_db.py), checked there with the real CLI (conformance cli_verbs):

  show <id> [--json]                  any task; exit 1 for an unknown id
  block <id> <reason...> [--kind K]   running|ready -> blocked      (kanban_db.py block_task, ~5690)
  unblock <ids...> [--reason R]       blocked|scheduled -> ready     (unblock_task, 5914/5955)
  schedule <id> [reason...]           todo|ready|running|blocked -> scheduled (schedule_task, 6712)
  complete <ids...> [--summary S]     running|ready|blocked -> done  (complete_task, ~4920)
  reclaim <id> [--reason R]           running -> ready               (reclaim_task, 4620-4636)
  set-model <id> <model|none> [--provider P]
                                      a provider needs a model: exit 2 "provider_override requires a
                                      model_override" (kanban.py:1804, kanban_db.py:3462-3466)
  comment <id> <text...>              any task
  dispatch                            one dispatcher pass (recorded)
A refused transition exits 1 with Hermes's message ("cannot block t_x"); a usage error exits 2.

State: $MEDIC_TEST_STATE (JSON {"tasks": {id: {"status", "model_override", "provider_override",
"runs": [{"id", "ended_at"}], "events": [{"kind", "run_id"}]}}}). Every call is appended to
$MEDIC_TEST_RECORD as one line, arguments separated by tabs, and its exit code to
$MEDIC_TEST_RECORD.rc (one per line). $MEDIC_TEST_SLOW_VERB names a verb that takes
$MEDIC_TEST_SLOW_S seconds (default 3) before it does anything, as a loaded machine's would:
a test can stop act while that command is in flight. $MEDIC_TEST_SLOW_SHOW_S makes `show`
read the state at once but answer that many seconds later, or as soon as a file
$MEDIC_TEST_STATE.go exists (the board can move meanwhile).
"""
import fcntl
import json
import os
import sys
import time


def load():
    path = os.environ["MEDIC_TEST_STATE"]
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"tasks": {}}


def save(state):
    path = os.environ["MEDIC_TEST_STATE"]
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f)
    os.replace(tmp, path)


def record(args, rc):
    with open(os.environ["MEDIC_TEST_RECORD"], "a") as f:
        f.write("\t".join(args) + "\n")
    with open(os.environ["MEDIC_TEST_RECORD"] + ".rc", "a") as f:
        f.write(f"{rc}\n")


VERBS = {  # verb: (options with a value, flags, min positionals)
    "show": ({}, {"json"}, 1),
    "block": ({"kind"}, set(), 2),
    "unblock": ({"reason"}, set(), 1),
    "schedule": (set(), set(), 1),
    "complete": ({"summary", "result", "metadata"}, set(), 1),
    "reclaim": ({"reason"}, set(), 1),
    "set-model": ({"provider"}, set(), 2),
    "comment": ({"author"}, set(), 2),
    "dispatch": ({"max", "failure-limit"}, {"dry-run", "json"}, 0),
}


def parse(argv):
    """argparse's forms: --opt value, --opt=value, flags, '--' ends options."""
    if not argv or argv[0] != "kanban":
        return None, "usage: hermes kanban ..."
    rest = argv[1:]
    board = None
    while rest and rest[0].startswith("--board"):
        if rest[0] == "--board":
            if len(rest) < 2:
                return None, "argument --board: expected one argument"
            board, rest = rest[1], rest[2:]
        else:
            board, rest = rest[0].split("=", 1)[1], rest[1:]
    if not rest or rest[0] not in VERBS:
        return None, f"invalid choice: {rest[0] if rest else ''!r}"
    verb, rest = rest[0], rest[1:]
    with_value, flags, min_pos = VERBS[verb]
    opts, pos, only_pos = {}, [], False
    i = 0
    while i < len(rest):
        a = rest[i]
        if only_pos:
            pos.append(a)
        elif a == "--":
            only_pos = True
        elif a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if name in flags and not eq:
                opts[name] = True
            elif name in with_value:
                if not eq:
                    if i + 1 >= len(rest) or rest[i + 1].startswith("-"):
                        return None, f"argument --{name}: expected one argument"
                    i += 1
                    value = rest[i]
                opts[name] = value
            else:
                return None, f"unrecognized arguments: {a}"
        elif a.startswith("-") and len(a) > 1:
            return None, f"unrecognized arguments: {a}"
        else:
            pos.append(a)
        i += 1
    if len(pos) < min_pos:
        return None, "the following arguments are required"
    return (board, verb, opts, pos), None


def main():
    args = sys.argv[1:]
    parsed, err = parse(args)
    if parsed is None:
        print(f"hermes: error: {err}", file=sys.stderr)
        record(args, 2)
        return 2
    board, verb, opts, pos = parsed
    if verb == os.environ.get("MEDIC_TEST_SLOW_VERB"):
        time.sleep(float(os.environ.get("MEDIC_TEST_SLOW_S", "3")))
    # One writer at a time: act runs commands for several tasks at once, and the test seeds
    # tasks while it does (the same lock file).
    lock = open(os.environ["MEDIC_TEST_STATE"] + ".lock", "a")
    fcntl.flock(lock, fcntl.LOCK_EX)
    state = load()
    tasks = state.setdefault("tasks", {})
    now = int(time.time())

    def task(tid):
        return tasks.get(tid)

    def event(t, kind, run_id=None):
        t.setdefault("events", []).append({"kind": kind, "run_id": run_id, "created_at": now})

    def end_open_run(t, outcome):
        for r in t.get("runs", []):
            if r.get("ended_at") is None:
                r["ended_at"] = now
                r["outcome"] = outcome
                return r["id"]
        return None

    rc = 0
    out = ""
    if verb == "dispatch":
        out = "dispatched"
    elif verb == "show":
        t = task(pos[0])
        if t is None:
            out, rc = f"no such task: {pos[0]}", 1
        else:
            out = json.dumps({"task": {"id": pos[0], "status": t["status"],
                                       "model_override": t.get("model_override"),
                                       "provider_override": t.get("provider_override")},
                              "runs": t.get("runs", []), "events": t.get("events", [])})
    else:
        tid = pos[0]
        t = task(tid)
        if t is None:
            out, rc = f"unknown task {tid}", 1
        elif verb == "block":
            if t["status"] in ("running", "ready"):
                run = end_open_run(t, "blocked")
                t["status"] = "blocked"
                event(t, "blocked", run)
                out = f"Blocked {tid}: {' '.join(pos[1:])}"
            else:
                out, rc = f"cannot block {tid}", 1
        elif verb == "unblock":
            # Every id is tried; exit 1 when any could not be (kanban.py _cmd_unblock).
            outs = []
            for uid in pos:
                u = task(uid)
                if u is not None and u["status"] in ("blocked", "scheduled"):
                    u["status"] = "ready"
                    event(u, "unblocked")
                    outs.append(f"Unblocked {uid}")
                else:
                    outs.append(f"cannot unblock {uid} (not blocked/scheduled?)")
                    rc = 1
            out = "\n".join(outs)
        elif verb == "schedule":
            if t["status"] in ("todo", "ready", "running", "blocked"):
                run = end_open_run(t, "scheduled")
                t["status"] = "scheduled"
                event(t, "scheduled", run)
                out = f"Scheduled {tid}: {' '.join(pos[1:])}"
            else:
                out, rc = f"cannot schedule {tid}", 1
        elif verb == "complete":
            if t["status"] in ("running", "ready", "blocked"):
                run = end_open_run(t, "completed")
                if run is None and opts.get("summary"):
                    # No run in flight: Hermes records a zero-length completed run that
                    # carries the summary (complete_task, kanban_db.py:4963-4970).
                    run = max([r["id"] for r in t.get("runs", [])] + [0]) + 1
                    t.setdefault("runs", []).append({"id": run, "ended_at": now, "outcome": "completed"})
                t["status"] = "done"
                event(t, "completed", run)
                out = f"Completed {tid}"
            else:
                out, rc = f"cannot complete {tid}", 1
        elif verb == "reclaim":
            if t["status"] == "running":
                run = end_open_run(t, "reclaimed")
                t["status"] = "ready"
                event(t, "reclaimed", run)
                out = f"Reclaimed {tid}"
            else:
                out, rc = f"cannot reclaim {tid} (not running or unknown id)", 1
        elif verb == "set-model":
            model = pos[1]
            if model == "none" and opts.get("provider"):
                out, rc = "kanban: provider_override requires a model_override", 2
            elif t["status"] == "archived":
                out, rc = f"cannot set model override on archived task {tid}", 1
            else:
                t["model_override"] = None if model == "none" else model
                t["provider_override"] = opts.get("provider")
                out = f"Set model override on {tid}"
        elif verb == "comment":
            out = f"Comment added to {tid}"
    if rc == 0:
        save(state)
    if verb == "show" and os.environ.get("MEDIC_TEST_SLOW_SHOW_S"):
        # Read now, answer late: the board may change meanwhile, as under Hermes's tick.
        lock.close()
        open(os.environ["MEDIC_TEST_STATE"] + ".read", "a").close()  # the test may move the task now
        deadline = time.time() + float(os.environ["MEDIC_TEST_SLOW_SHOW_S"])
        while time.time() < deadline and not os.path.exists(os.environ["MEDIC_TEST_STATE"] + ".go"):
            time.sleep(0.02)
    print(out, file=sys.stdout if rc == 0 else sys.stderr)
    record(args, rc)
    return rc


if __name__ == "__main__":
    sys.exit(main())
