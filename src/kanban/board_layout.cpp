#include "kanban/board_layout.h"

#include <fcntl.h>
#include <sys/stat.h>

#include "core/beneath.h"
#include "core/ids.h"

namespace medic::kanban {

BoardList list_boards(int root_fd, const std::string& root) {
  BoardList out;
  out.boards.push_back(BoardPlace{"default", root, "kanban/logs"});
  const std::string boards_root = root + "/kanban/boards";
  auto dir = core::open_dir_beneath(root_fd, "kanban/boards", false);
  if (!dir) {
    // Not there yet is no news; a link (to elsewhere) or a directory that cannot be opened
    // is said, once, rather than leaving every named board unread without a word.
    if (dir.error().code != core::ErrorCode::NotFound)
      out.refused.push_back(Refusal{"boards-dir", "boards dir=" + boards_root + " refused: " + dir.error().message +
                                                      "; its boards are not read"});
    return out;
  }
  auto names = core::list_dir(dir->get());
  if (!names) {
    out.refused.push_back(
        Refusal{"boards-dir", "boards dir=" + boards_root + " cannot be listed: " + names.error().message});
    return out;
  }
  for (const auto& slug : *names) {
    if (slug.empty() || slug[0] == '_' || slug[0] == '.' || slug == "default") continue;  // Hermes's own
    struct stat st {};
    if (::fstatat(dir->get(), slug.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone meanwhile
    if (S_ISLNK(st.st_mode)) {
      out.refused.push_back(Refusal{
          "board-link:" + slug,
          "board dir=" + boards_root + "/" + slug + " refused: a symbolic link (boards are never followed out)"});
      continue;
    }
    if (!S_ISDIR(st.st_mode)) continue;
    if (!core::valid_board_slug(slug)) {
      out.refused.push_back(Refusal{"board:" + slug, "board dir=" + boards_root + "/" + slug +
                                                         " refused: the name is not a Hermes board slug "
                                                         "([a-z0-9][a-z0-9_-]{0,63})"});
      continue;
    }
    out.boards.push_back(BoardPlace{slug, boards_root + "/" + slug, "kanban/boards/" + slug + "/logs"});
  }
  return out;
}

bool is_board_file(std::string_view name) {
  return name == "kanban.db" || name == "kanban.db-wal" || name == "kanban.db-journal";
}

std::string live_log_name(std::string_view name) {
  std::string n(name);
  if (const auto dot = n.find(".log."); dot != std::string::npos) n = n.substr(0, dot + 4);
  return n;
}

}  // namespace medic::kanban
