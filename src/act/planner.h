#pragma once
// `medic act` as a reconciler (DESIGN.md §6): for one decision and the task's state as
// Hermes's CLI shows it now, the commands that move the task to the state the decision
// wants, issuing only transitions Hermes allows from that state (kanban_db.py at aaf96885:
// block from running/ready; unblock from blocked/scheduled; schedule from todo/ready/
// running/blocked; complete from running/ready/blocked; reclaim from running; set-model
// needs a model with a provider, kanban_db.py:3462). "Already there" is success, so
// applying a decision twice, or again after a crash between two commands, converges.
//
// It works with Hermes's dispatcher, not against it:
// - a task Hermes gave up on, or that Hermes, a person or its worker blocked, stays as
//   they left it, except for `complete` (its artifacts pass) and a rate-limit `retry_at`
//   at a reset the provider named (the decision says it overrides Hermes's breaker);
// - a decision about a run Hermes has already moved past (a newer run is running) is
//   stale: nothing is done (that run may finish the work; its end gets its own decision);
// - plain retries and resumes are left to Hermes's own retry on its tick (only a fallback
//   model is set, or a resume note added); only a retry_at parks the task (`schedule`),
//   and act's timer releases it at that time (`unblock`), then dispatches;
// - a `block` at an exit where Hermes's breaker trips (Hermes blocks the task itself on its
//   tick) waits for Hermes's word on that run too, rather than race it;
// - a `complete` of a run still open on the board (its worker died, by its trailer or its
//   pid, before Hermes's tick saw it) waits for Hermes to end that run: completing it now
//   would end it as `completed` and Hermes's own classification of it (protocol_violation,
//   crashed) would never be written. Once Hermes has ended it, the task is completed from
//   where Hermes left it (ready or blocked: a zero-length completed run carries medic's
//   summary), unless Hermes has already started it again; if Hermes never says (its
//   dispatcher is not running), the caller plans again with wait_for_hermes off;
// - no `reclaim`: the decided worker has exited already, and a reclaim kills and resets
//   Hermes's failure counter (a reclaim whose reason starts "medic:" is still never decided
//   on by the daemon, should an operator script one).
// Order: set-model and comment first (no status change), then the status change;
// `schedule` before any release, so the dispatcher never sees the task ready in between.
// Thread: any; pure.

#include <optional>
#include <string>
#include <vector>

#include "act/hermes_command.h"
#include "core/clock.h"
#include "decide/decision.h"

namespace medic::act {

/// The task as `hermes kanban show --json` shows it now.
struct TaskView {
  bool exists = false;
  std::string status;  // triage todo scheduled ready running blocked review done archived
  std::string model_override;
  std::string provider_override;
  std::int64_t latest_run = 0;   // the newest run's id (0: none)
  bool latest_run_open = false;  // it has not ended
  bool gave_up = false;          // Hermes's breaker tripped after the decision's run began
};

struct PlanOptions {
  bool dispatch = true;  // run one dispatcher pass after a complete and after a release
  // A `complete` of a run Hermes has not ended yet (its worker is dead, Hermes's tick has
  // not seen it) waits for Hermes's word on that run; false once that wait is over.
  bool wait_for_hermes = true;
};

struct Plan {
  std::vector<HermesCommand> commands;           // in order
  std::optional<core::EpochSeconds> release_at;  // hold a timer; then plan_release
  bool wait_for_hermes = false;                  // plan again once Hermes has ended the run
  std::vector<std::string> notes;                // what was left alone, and why
};

/// The commands for `d` given the task's state `t`.
Plan plan(const decide::Decision& d, const TaskView& t, core::EpochSeconds now, const PlanOptions& o = {});

/// At a held timer's time: release a task act parked (scheduled), or one blocked whose
/// decision overrides Hermes's breaker; "already ready" is success.
Plan plan_release(const std::string& task, const TaskView& t, bool overrides_breaker, const PlanOptions& o = {});

/// After the repair_auth preflight: nothing more when it repaired the login (Hermes retries
/// the task itself), else block it with the re-login instruction when Hermes allows it.
Plan plan_after_preflight(const decide::Decision& d, const TaskView& t, bool repaired, const std::string& why);

/// Hermes's block kind for a decision's class: what a person must supply, what the
/// provider lacks, or a passing condition.
std::string block_kind(const decide::Decision& d);

}  // namespace medic::act
