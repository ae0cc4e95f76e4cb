#pragma once
// Hermes's own circuit breaker, predicted (kanban_db.py at aaf96885: _record_task_failure,
// detect_crashed_workers, _protocol_violation_streak), so that medic never publishes a
// retry for a run after which Hermes gives up on the task (issue 9 item 8). medic decides
// within milliseconds of the exit, before Hermes's tick counts it:
// - crashed (non-zero exit, signal, "not alive"), timed_out and spawn_failed runs count
//   into tasks.consecutive_failures; the breaker trips at max_retries, else the dispatcher's
//   failure limit (DEFAULT_FAILURE_LIMIT = 2);
// - clean exits without a terminal Kanban call are protocol violations with their own
//   streak budget: max_retries, else 3 (_PROTOCOL_VIOLATION_FAILURE_LIMIT); rate_limited
//   runs neither count nor break the streak;
// - rate-limited exits (75), stale and reclaimed runs never count.
// When Hermes has already closed the run (the decision comes from its event), its counter
// is taken as including this run; a miss is caught by the gave_up event that follows.
// Thread: any; pure.

#include <optional>
#include <string>

#include "decide/decision.h"

namespace medic::decide {

/// Predicts what Hermes's breaker does with `exit`.
BreakerOutlook predict_breaker(const ExitInfo& exit, const BreakerFacts& facts);

}  // namespace medic::decide
