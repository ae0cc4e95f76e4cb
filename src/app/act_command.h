#pragma once
// `medic act`: the optional actuator (DESIGN.md §6), a reconciler. It subscribes to the
// daemon's socket and, for each decision, reads the task's state through Hermes's CLI,
// plans the transitions that reach the state the decision wants (act/planner.h: only the
// ones Hermes allows from there, never fighting Hermes's own breaker), and runs them
// asynchronously (uv_spawn, a timeout per command, one task's commands in order). It holds
// the timer for a retry_at itself (Hermes has no timed wake), by the wall clock, across
// restarts. Applied ids, pending timers and the last seq applied live in
// <state_dir>/act.json, written atomically. Every command and its exit code is logged and
// added to the state reports. --dry-run reads states and prints the commands only.
// Thread: one loop thread; children run as processes.

#include "cli/options.h"

namespace medic::app {

int run_act(const cli::ActOptions& options);

}  // namespace medic::app
