#pragma once
// `medic subscribe`: prints each message from the daemon's socket as one JSON line,
// flushed per line. With --since N it asks for a replay of everything after seq N.

#include "cli/options.h"

namespace medic::app {

int run_subscribe(const cli::SubscribeOptions& options);

}  // namespace medic::app
