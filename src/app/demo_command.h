#pragma once
// `medic demo`, the README's main job: builds a throw-away Hermes root with a real board
// (Hermes's schema), starts the real daemon (`medic run`) on it, plays the seed
// incidents as a worker and Hermes would write them (a Codex 429 with resets_at and
// rc=0, a missing kanban-worker skill, a connection timeout, a residency 401, a profile
// without Codex auth), and prints each decision when it arrives with the delay measured
// from the worker's exit. Exit 0 when every incident got its decision.

#include "cli/options.h"

namespace medic::app {

int run_demo(const cli::DemoOptions& options);

}  // namespace medic::app
