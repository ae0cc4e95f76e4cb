#pragma once
// What act reads of a task before it acts: `hermes kanban show --json`, parsed into the
// planner's TaskView. Pure.

#include <cstdint>
#include <string_view>

#include "act/planner.h"

namespace medic::act {

/// The task as `hermes kanban show --json` prints it (hermes_cli/kanban.py:1642-1679 at
/// aaf96885: {"task": {...}, "runs": [{"id", "ended_at", ...}], "events": [{"kind",
/// "run_id", ...}], ...}), for the decision of run `decision_run`. Text before the first
/// '{' (a warning Hermes printed) is skipped; output that is not that JSON gives a view
/// with exists == false.
TaskView parse_show(std::string_view output, std::int64_t decision_run);

}  // namespace medic::act
