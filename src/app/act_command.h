#pragma once
// `medic act`: the optional actuator (DESIGN.md §6). It subscribes to the daemon's socket
// and applies each decision through Hermes's own CLI (reference/hermes-kanban.md §5),
// `hermes kanban --board <slug> <verb> …`:
//   complete            -> complete <id> --summary <reason>
//   block               -> block <id> <reason> --kind <kind>   (not for a task Hermes
//                          already blocked: exit.event = blocked)
//   retry_at/retry/resume -> set-model <id> none --provider <p> when a fallback is named;
//                          comment with the missing list for resume; then `schedule` (park)
//                          and, at retry_at, `unblock`: Hermes has no timed wake, so act
//                          holds the timer (persisted, so a restart keeps it).
//   repair_auth/repair_env/ignore -> nothing to run (logged with the next command).
// A task Hermes still shows as running is reclaimed first. Each decision is applied once:
// applied ids and pending timers live in <state_dir>/act.json, written atomically. Every
// command and its exit code is logged and added to the state reports (the task's
// workspace pair and <state_dir>/state/<board>/). --dry-run prints the commands only.

#include "cli/options.h"

namespace medic::app {

int run_act(const cli::ActOptions& options);

}  // namespace medic::app
