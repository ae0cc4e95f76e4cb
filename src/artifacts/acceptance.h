#pragma once
// Acceptance checks on a task's workspace (DESIGN.md §5): the raw evidence a worker
// collected, its final outputs, and the project state files. Strict by construction:
// `passed()` is true only when every check ran and passed, because it lets medic complete
// a task instead of rerunning it. Paths are relative to the workspace; one that escapes it
// (`..`, absolute, or a symlink pointing out) is refused and reported, never followed.
// Thread: any; reads the filesystem only.

#include <cstdint>
#include <string>
#include <vector>

namespace medic::artifacts {

struct OutputSpec {
  std::string glob;                   // relative to the workspace, fnmatch syntax
  std::uint64_t min_bytes = 1;        // non-empty by default
  std::vector<std::string> contains;  // required subjects, case-insensitive, all of them
};

struct AcceptanceSpec {
  std::vector<std::string> evidence_globs;
  std::vector<OutputSpec> outputs;
  // Must have changed after the run started, outside the section medic writes into them.
  std::vector<std::string> state_files;

  /// DESIGN §5's default: evidence = a non-empty file under raw/ or evidence/; outputs =
  /// a non-empty .md and a non-empty .html elsewhere (not under raw/, evidence/, state/);
  /// state = state/PROJECT_STATE.md and .html changed after the run started.
  static AcceptanceSpec defaults();
};

struct CheckResult {
  bool ran = false;  // false: no workspace, or it could not be read
  bool evidence = false;
  bool outputs = false;
  bool state = false;
  std::vector<std::string> checked;  // one line per check, "ok: ..." or "missing: ..."
  std::vector<std::string> missing;  // exact relative paths or patterns still needed
  std::vector<std::string> refused;  // paths that escape the workspace
  bool passed() const { return ran && evidence && outputs && state && refused.empty(); }
};

/// Runs every check. `run_started` is epoch seconds; state files must be newer.
CheckResult check(const std::string& workspace, const AcceptanceSpec& spec, std::int64_t run_started);

}  // namespace medic::artifacts
