#pragma once
// `medic demo`: for now, classifies a sample Hermes worker log built into the binary
// (real failure strings in Hermes's console style) and prints each run's label. The
// daemon issue turns it into a live board replayed through the daemon.

#include "cli/options.h"

namespace medic::app {

int run_demo(const cli::DemoOptions& options);

}  // namespace medic::app
