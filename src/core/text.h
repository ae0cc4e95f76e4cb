#pragma once
// Small text helpers shared by the decision engine, the reports and the CLI.
// Thread: any; pure functions.

#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace medic::core {

/// "a, b, c" (or with `sep`).
std::string join(const std::vector<std::string>& items, std::string_view sep = ", ");

/// "YYYY-MM-DD HH:MM:SS" in UTC; "-" for a time that is not set (<= 0).
std::string utc_time(EpochSeconds t);

/// The command as a shell would need it typed: each argument quoted when it must be (for
/// logs, reports and a dry run's output; commands are never run through a shell).
std::string shell_quote(const std::vector<std::string>& argv);

}  // namespace medic::core
