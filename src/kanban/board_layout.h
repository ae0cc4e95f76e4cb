#pragma once
// Where Hermes keeps its boards and their logs (hermes_cli/kanban_db.py at aaf96885): the
// default board's database is <root>/kanban.db with its logs in <root>/kanban/logs; every
// other board lives in <root>/kanban/boards/<slug>/ with its own kanban.db and logs/.
// Directories whose names start with '_' or '.' and a "default" directory are Hermes's own.
// A slug outside Hermes's grammar, or a board directory that is a link, is refused: boards
// are never followed out of the root.
// Thread: any.

#include <string>
#include <string_view>
#include <vector>

namespace medic::kanban {

struct BoardPlace {
  std::string slug;
  std::string dir;       // where kanban.db lives
  std::string logs_rel;  // the logs dir, relative to the root
};

struct Refusal {
  std::string key;      // the same refusal has the same key (logged once)
  std::string message;  // names the path and why
};

struct BoardList {
  std::vector<BoardPlace> boards;  // the default board first
  std::vector<Refusal> refused;
};

/// The boards under the Hermes root `root` (opened as `root_fd`), read without following
/// a link below the root.
BoardList list_boards(int root_fd, const std::string& root);

/// True for the files a board commits through: kanban.db and its -wal (WAL mode) or
/// -journal (DELETE mode, which Hermes uses on SQLite with the WAL-reset bug:
/// hermes_state.py:714).
bool is_board_file(std::string_view name);

/// The live log a name in a logs dir belongs to: "<task>.log.1" (rotated, and possibly
/// still written by its worker) belongs to "<task>.log"; other names are themselves.
std::string live_log_name(std::string_view name);

}  // namespace medic::kanban
