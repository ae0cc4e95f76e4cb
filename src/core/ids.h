#pragma once
// The grammar of the names Hermes gives its tasks, boards and profiles. Each comes from
// a board row or a directory that a worker can write, and medic builds paths
// (<logs>/<task>.log) and `hermes` argv from them: a name outside the grammar ("../x",
// "-h", "a/b") is refused before any path or argv is made, logged and counted.
// Thread: any; pure.

#include <sys/stat.h>

#include <cstdint>
#include <string_view>

namespace medic::core {

// A file's identity: the same (dev, inode) is the same file whatever its name now is.
struct FileId {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
  /// The identity of what a stat (fstat, fstatat) describes.
  static FileId of(const struct stat& st) {
    return FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
  }
};

/// "t_" then 1-64 of [a-z0-9_-]: Hermes makes "t_" + hex (kanban_db.py _new_task_id);
/// the grammar rules out '/', '.', a leading '-' and whitespace.
bool valid_task_id(std::string_view id);

/// Hermes's board slug (kanban_db.py _BOARD_SLUG_RE): ^[a-z0-9][a-z0-9_-]{0,63}$.
bool valid_board_slug(std::string_view slug);

/// Hermes's profile name (profiles.py _PROFILE_ID_RE): ^[a-z0-9][a-z0-9_-]{0,63}$.
bool valid_profile_name(std::string_view name);

/// A provider or model name as medic passes it to `hermes --provider=`/set-model
/// ("openai-codex", "anthropic/claude-sonnet-4", "gpt-5.5"): 1-128 of [A-Za-z0-9._:/@+-],
/// starting with a letter or digit, no "..".
bool valid_provider_name(std::string_view name);

}  // namespace medic::core
