#pragma once
// Runs another program to completion and captures its output (stdout and stderr
// together): `codex login status` for the preflight, Hermes's CLI for `medic act`.
// Thread: any; blocks until the child exits.

#include <string>
#include <utility>
#include <vector>

namespace medic::app {

struct ChildResult {
  int exit_code = -1;  // 127: could not be started; 128 + signal when killed
  std::string output;  // stdout+stderr, trailing newlines removed
};

/// argv[0] is looked up in PATH. `env` entries ("NAME=value") replace or add variables.
ChildResult run_child(const std::vector<std::string>& argv, const std::vector<std::string>& env = {});

}  // namespace medic::app
