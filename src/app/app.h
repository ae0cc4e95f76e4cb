#pragma once
// Composition root: runs one command from parsed options and returns the process exit
// code (0 ok, 1 the check failed, 2 bad usage or input).

#include "cli/options.h"

namespace medic::app {

int run(const cli::Options& options);

}  // namespace medic::app
