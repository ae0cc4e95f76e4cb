#pragma once
// `medic preflight --profile-home DIR [--main-home DIR] [--codex NAME]`: the seed
// article's mechanical worker auth preflight.
//  1. run `HOME=DIR codex login status`; "Logged in" -> ok (exit 0);
//  2. otherwise look at DIR/.codex/auth.json: when it is absent and the main user's
//     ~/.codex/auth.json exists, link it into the profile and check again;
//  3. only when that still fails, exit 1 with the precise instruction (re-login to Codex).
// It never overwrites a real file, never follows or replaces a link it did not create,
// and prints every step. Exit 2 on bad usage.

#include "cli/options.h"

namespace medic::app {

int run_preflight(const cli::PreflightOptions& options);

}  // namespace medic::app
