#pragma once
// Acceptance checks on a task's workspace (DESIGN.md §5): the raw evidence a worker
// collected, its final outputs, and the project state files. Strict by construction:
// `passed()` is true only when every check ran and passed, because it lets medic complete
// a task instead of rerunning it. Paths are relative to the workspace; one that escapes it
// (`..`, absolute, or a symlink pointing out) is refused and reported, never followed.
// Thread: any; reads the filesystem only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace medic::artifacts {

struct OutputSpec {
  // Relative to the workspace, fnmatch syntax. A glob without '/' matches file names
  // anywhere except under raw/, evidence/ and state/; one with '/' matches the path.
  std::string glob;
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

/// A task-title selector: a PCRE2 pattern (the syntax rule authors already use), searched
/// anywhere in the title. Copies share the compiled code.
class TitlePattern {
 public:
  /// The compiled pattern, or PCRE2's message with the offset of the error.
  static core::Result<TitlePattern> compile(const std::string& pattern);
  bool search(const std::string& title) const;

 private:
  std::shared_ptr<const void> code_;
};

/// One configured acceptance entry (the `acceptance:` list of the YAML config): the
/// tasks it applies to and their checks. Empty selector fields match anything.
struct AcceptanceRule {
  std::string board;
  std::string assignee;
  std::string title_pattern;          // PCRE2, searched in the task's title
  std::optional<TitlePattern> title;  // compiled title_pattern
  AcceptanceSpec spec;
  std::string where;  // "file:line" of the entry, for the decision
  bool matches(const std::string& task_board, const std::string& task_assignee, const std::string& task_title) const;
};

/// The first rule that matches the task, or null (then AcceptanceSpec::defaults()).
const AcceptanceRule* select(const std::vector<AcceptanceRule>& rules, const std::string& board,
                             const std::string& assignee, const std::string& title);

/// Runs every check. `run_started` is epoch seconds; state files must be newer.
CheckResult check(const std::string& workspace, const AcceptanceSpec& spec, std::int64_t run_started);

}  // namespace medic::artifacts
