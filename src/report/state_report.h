#pragma once
// The state reports (DESIGN.md §6): medic appends every recovery decision, and every
// command `medic act` ran for one, to a project's state/PROJECT_STATE.md and .html, inside
// a section it owns between markers. Everything outside the section is kept byte for byte.
// The section carries its own data (a JSON comment) from which both tables are rendered,
// and a fingerprint of what lies outside it, so acceptance can tell a worker's update of
// the file from medic's own write (outside_changed_at).
// Writes are atomic (temp file, fsync, rename, fsync of the directory) and serialised
// between processes by an flock on the file's directory.
// Thread: any; each call does its own I/O.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace medic::report {

/// One decision, as the report shows it.
struct DecisionRow {
  std::string id;
  std::int64_t time = 0;  // epoch seconds
  std::string board;
  std::string task;
  std::string failure_class;  // empty: none
  std::string action;
  std::string reason;
  std::string evidence;  // "path:line: text", or empty
  std::string next_command;
};

/// One command `medic act` ran for a decision.
struct CommandRow {
  std::string decision_id;
  std::int64_t time = 0;
  std::string task;
  std::string command;
  int exit_code = 0;
  std::string output;  // the command's last output line, for the reader
};

struct ProviderRow {
  std::string provider;
  std::int64_t unhealthy_until = 0;
  std::string reason;
};

/// What one write adds. `health` replaces the section's provider health when present.
struct Update {
  std::vector<DecisionRow> decisions;
  std::vector<CommandRow> commands;
  std::optional<std::vector<ProviderRow>> health;
  void merge(Update&& later);
};

/// Rows kept per table; older ones drop out (the journal keeps every decision).
inline constexpr std::size_t kMaxRows = 500;

/// Where a report lives, for writing without following links (DESIGN.md §6b): `anchor` is
/// a directory medic trusts (its state dir, an allowed workspace root); `base` a directory
/// beneath it that must exist ("" for the anchor itself: a task's workspace); `file` the
/// report's path beneath `base`, whose missing directories (state/) are created. Nothing
/// below the anchor is followed: a link anywhere there refuses the write.
struct Location {
  std::string anchor;
  std::string base;
  std::string file;
  std::string display() const;  // anchor/base/file, for messages and as a key
};

/// Appends `u` to the medic section of the report at `where` (Markdown, or HTML when the
/// name ends in .html/.htm), creating the file when missing. `now` stamps the page. A
/// link or non-regular file on the way fails with ErrorCode::InvalidArgument ("refused").
[[nodiscard]] core::Result<void> append(const Location& where, const Update& u, std::int64_t now);

/// When the bytes outside medic's section last changed, by anyone but medic: the file's
/// mtime when it has no medic section or when the outside differs from what medic saw at
/// its last write, else the time medic recorded then (0: only medic ever wrote it).
/// nullopt when the file cannot be read.
std::optional<std::int64_t> outside_changed_at(const std::string& path);
/// The same for the file `name` in the directory `dir_fd` (not followed if a link).
std::optional<std::int64_t> outside_changed_at(int dir_fd, const std::string& name);

/// The rows in the medic section of `path` (empty when there is none): for tests and
/// for `medic act`'s idempotence checks.
struct Section {
  std::vector<DecisionRow> decisions;
  std::vector<CommandRow> commands;
  std::vector<ProviderRow> health;
};
core::Result<Section> read_section(const std::string& path);

}  // namespace medic::report
