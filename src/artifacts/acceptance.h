#pragma once
// Acceptance checks on a task's workspace (DESIGN.md §5): the raw evidence a worker
// collected, its final outputs, and the project state files. Strict by construction:
// `passed()` is true only when every check ran and passed, because it lets medic complete
// a task instead of rerunning it.
// Untrusted input (DESIGN.md §6b): a task's workspace_path is whatever its row says, and a
// worker can make anything in it a link. A workspace is used only when it lies beneath one
// of the allowed roots (WorkspaceRoots; "/" and system directories never), and everything
// in it is reached from the root's descriptor without following a link (core/beneath.h).
// A configured path that escapes the workspace (`..`, absolute) and a link pointing out of
// it are refused and reported, never followed; links inside are not followed either.
// Thread: any; reads the filesystem only.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

#include "report/state_report.h"

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

/// A task's workspace, placed: the allowed root it lies beneath and its path below it.
struct Workspace {
  std::string root;  // an allowed root (trusted: links in its own path are the operator's)
  std::string rel;   // beneath root, normalised, "" for the root itself
  std::string path() const { return rel.empty() ? root : root + "/" + rel; }
};

/// Opens the workspace directory, following no link beneath its root.
[[nodiscard]] core::Result<core::UniqueFd> open_workspace(const Workspace& ws);

/// The directories task workspaces may lie in. "/" and the system directories (/etc, /usr,
/// /bin, /sbin, /lib*, /boot, /dev, /proc, /sys, /run, /var and /var/lib, /var/log, ...)
/// are never roots, nor is anything beneath the read-only system trees.
class WorkspaceRoots {
 public:
  WorkspaceRoots() = default;
  /// `roots` are absolute paths; one that is relative, "/", or a system directory is left
  /// out and named in `dropped` with the reason.
  static WorkspaceRoots create(const std::vector<std::string>& roots, std::vector<std::string>* dropped = nullptr);
  /// The default roots: the Hermes root's kanban/ (every board's scratch workspaces), the
  /// user's home, and the directory that holds the Hermes root (~ for ~/.hermes), where
  /// Hermes `dir` workspaces usually are.
  static std::vector<std::string> defaults(const std::string& hermes_root, const std::string& home);
  /// Places `workspace_path` beneath the first root it lies in, lexically (an absolute path
  /// without ".."); fails with the reason otherwise.
  [[nodiscard]] core::Result<Workspace> resolve(const std::string& workspace_path) const;
  const std::vector<std::string>& roots() const { return roots_; }

  /// Whether `normalized` (an absolute, normalised path) may never be a root.
  static bool is_system_dir(const std::string& normalized);

 private:
  std::vector<std::string> roots_;
};

/// Runs every check in a placed workspace. `run_started` is epoch seconds; state files
/// must be newer.
CheckResult check(const Workspace& ws, const AcceptanceSpec& spec, std::int64_t run_started);

/// Places the task's `workspace_path` with `roots`, then runs every check; a workspace
/// that is unset, outside the roots or a link is reported (missing / refused), not read.
CheckResult check(const WorkspaceRoots& roots, const std::string& workspace_path, const AcceptanceSpec& spec,
                  std::int64_t run_started);

/// Where a decision's state report goes in its task's workspace: state/PROJECT_STATE.md
/// beneath the workspace, which must lie beneath an allowed root and be reached without a
/// link; its state/ and report files must not be links either (a worker controls all three).
/// nullopt: the workspace does not exist (yet), so there is nothing to write; an error
/// names why the report is refused.
[[nodiscard]] core::Result<std::optional<report::Location>> report_location(const WorkspaceRoots& roots,
                                                                            const std::string& workspace_path);

}  // namespace medic::artifacts
