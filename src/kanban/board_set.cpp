#include "kanban/board_set.h"

#include <spdlog/spdlog.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>

#include "core/beneath.h"
#include "kanban/board_layout.h"

namespace medic::kanban {

BoardSet::BoardSet(uv_loop_t* loop, watch::Watcher& watcher, std::string root, int root_fd,
                   std::map<std::string, std::int64_t> saved_cursors, Callbacks callbacks)
    : loop_(loop),
      watcher_(watcher),
      root_(std::move(root)),
      root_fd_(root_fd),
      saved_cursors_(std::move(saved_cursors)),
      cb_(std::move(callbacks)) {}

BoardSet::~BoardSet() {
  for (auto* slot : {&root_watch_, &kanban_watch_, &boards_watch_}) {
    if (*slot) watcher_.remove(**slot);
  }
  for (auto& [slug, b] : boards_) {
    if (b->db_watch) watcher_.remove(*b->db_watch);
    if (b->logs_watch) watcher_.remove(*b->logs_watch);
  }
}

BoardSet::Board* BoardSet::find(const std::string& slug) {
  auto it = boards_.find(slug);
  return it == boards_.end() ? nullptr : it->second.get();
}

std::map<std::string, std::int64_t> BoardSet::cursors() const {
  std::map<std::string, std::int64_t> out;
  for (const auto& [slug, b] : boards_) {
    if (b->events->cursor() >= 0) out[slug] = b->events->cursor();
  }
  return out;
}

void BoardSet::watch_dir(std::optional<watch::WatchId>& slot, const std::string& dir,
                         watch::Watcher::OnEntry on_entry) {
  if (slot) return;
  // The slot is a member of the set or of a board (held by unique_ptr): it does not move
  // while the watch lives, and the watch is removed before its owner goes.
  auto id = watcher_.add(dir, std::move(on_entry), [this, &slot, dir] {
    slot.reset();
    on_gone(dir);
  });
  if (!id) {
    if (id.error().code != core::ErrorCode::NotFound) spdlog::error("watch failed: {}", id.error().message);
    return;
  }
  slot = *id;
  spdlog::debug("watching dir={}", dir);
}

void BoardSet::on_gone(const std::string& dir) {
  // A watched directory was deleted, moved or replaced: drop what lived in it and look
  // again; its parent's watch (or this rescan) finds the new one.
  spdlog::warn("dir={} went away; rescanning", dir);
  std::vector<std::string> gone;
  for (auto& [slug, b] : boards_) {
    if (dir == b->logs_dir) {
      if (b->logs_watch) watcher_.remove(*b->logs_watch);
      b->logs_watch.reset();
      b->logs_fd.reset();
    }
    if (slug != "default" && dir == b->dir) gone.push_back(slug);
  }
  for (const auto& slug : gone) drop(slug);
  rescan();
}

void BoardSet::drop(const std::string& slug) {
  auto it = boards_.find(slug);
  if (it == boards_.end()) return;
  Board& b = *it->second;
  if (b.db_watch) watcher_.remove(*b.db_watch);
  if (b.logs_watch) watcher_.remove(*b.logs_watch);
  cb_.on_dropped(b);
  boards_.erase(it);
  saved_cursors_.erase(slug);
  recreated_.insert(slug);
  spdlog::warn("board={} went away; it is read from its first event if it comes back", slug);
}

void BoardSet::notify(const std::string& slug) {
  if (Board* b = find(slug)) b->events->notified();
}

void BoardSet::on_board_dir_entry(const std::string& slug, std::string_view name) {
  if (is_board_file(name)) {
    notify(slug);
  } else if (name == "logs") {
    rescan();
  }
}

void BoardSet::start_watches() {
  watch_dir(root_watch_, root_, [this](std::string_view name, watch::Watcher::Change) {
    if (is_board_file(name)) {
      notify("default");
    } else if (name == "kanban") {
      rescan();
    }
  });
  watch_dir(kanban_watch_, root_ + "/kanban", [this](std::string_view name, watch::Watcher::Change) {
    if (name == "logs" || name == "boards") rescan();
  });
  watch_dir(boards_watch_, root_ + "/kanban/boards", [this](std::string_view, watch::Watcher::Change) { rescan(); });
}

BoardSet::Board& BoardSet::add(const BoardPlace& place) {
  auto b = std::make_unique<Board>();
  b->slug = place.slug;
  b->dir = place.dir;
  b->logs_dir = root_ + "/" + place.logs_rel;
  b->logs_rel = place.logs_rel;
  std::int64_t cursor = -1;  // not started: first_cursor
  if (auto it = saved_cursors_.find(place.slug); it != saved_cursors_.end()) cursor = it->second;
  if (recreated_.erase(place.slug) > 0) cursor = 0;  // a board made anew: all its events are new
  Board* p = b.get();
  b->events = std::make_unique<BoardFollower>(
      loop_, place.slug, place.dir + "/kanban.db", cursor, reading_,
      BoardFollower::Callbacks{[this, p](const KanbanEvent& e) { cb_.on_event(*p, e); },
                               [this, p] { cb_.on_caught_up(*p); },
                               [this, p](BoardReader& r) { return cb_.first_cursor(*p, r); }, cb_.on_moved});
  auto& slot = boards_[place.slug];
  slot = std::move(b);
  return *slot;
}

// The logs dir: reached from the root without following a link, watched, and compared by
// identity with what is at its path now.
void BoardSet::follow_logs(Board& b) {
  // A logs dir deleted, or replaced, since it was opened: the set's own descriptor keeps
  // the old inode alive, so no IN_DELETE_SELF comes; compare identities instead.
  if (b.logs_fd) {
    struct stat open_st {
    }, path_st{};
    const bool same = ::fstat(b.logs_fd.get(), &open_st) == 0 &&
                      ::fstatat(root_fd_, b.logs_rel.c_str(), &path_st, AT_SYMLINK_NOFOLLOW) == 0 &&
                      open_st.st_dev == path_st.st_dev && open_st.st_ino == path_st.st_ino;
    if (!same) {
      spdlog::warn("board={} logs dir={} was deleted or replaced; following the new one", b.slug, b.logs_dir);
      if (b.logs_watch) watcher_.remove(*b.logs_watch);
      b.logs_watch.reset();
      b.logs_fd.reset();
    }
  }
  // One that is a link (to /etc, say) is refused, never watched or read.
  if (!b.logs_fd) {
    if (auto fd = core::open_dir_beneath(root_fd_, b.logs_rel, false)) {
      b.logs_fd = std::move(*fd);
    } else if (fd.error().code != core::ErrorCode::NotFound) {
      cb_.on_refused("logs:" + b.logs_dir, "board=" + b.slug + " logs dir=" + b.logs_dir +
                                               " refused: " + fd.error().message + "; its logs are not read");
    }
  }
  if (b.logs_fd && !b.logs_watch) {
    watch_dir(b.logs_watch, b.logs_dir, [this, slug = b.slug](std::string_view name, watch::Watcher::Change change) {
      Board* owner = find(slug);
      if (!owner) return;
      // A rotated log's bytes are read through the descriptor of its live log's tailer.
      cb_.on_log(*owner, live_log_name(name), change == watch::Watcher::Change::Replaced);
    });
  }
}

void BoardSet::rescan() {
  if (cb_.on_rescan) cb_.on_rescan();
  // Watches first (directories created, or made anew, since): a board made between the
  // listing and the watch would be missed until some later rescan.
  start_watches();
  const BoardList found = list_boards(root_fd_, root_);
  for (const auto& r : found.refused) cb_.on_refused(r.key, r.message);
  // A named board whose directory is gone. Its own watch may never say so: while the
  // follower holds the deleted kanban.db open, that file's dentry pins its directory's,
  // and the kernel sends IN_DELETE_SELF only once the last one goes.
  std::vector<std::string> gone;
  for (const auto& [slug, b] : boards_) {
    struct stat st {};
    if (slug != "default" && ::fstatat(root_fd_, ("kanban/boards/" + slug).c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 &&
        errno == ENOENT)
      gone.push_back(slug);
  }
  for (const auto& slug : gone) drop(slug);
  for (const BoardPlace& place : found.boards) {
    Board* existing = find(place.slug);
    Board& b = existing ? *existing : add(place);
    if (b.slug != "default") {
      watch_dir(b.db_watch, b.dir, [this, slug = b.slug](std::string_view name, watch::Watcher::Change) {
        on_board_dir_entry(slug, name);
      });
    }
    follow_logs(b);
    b.events->read();
    // Logs already there (written while medic was down, or before the board appeared).
    if (b.logs_fd) {
      if (auto names = core::list_dir(b.logs_fd.get())) {
        for (const auto& n : *names) cb_.on_log(b, n, true);
      }
    }
  }
}

void BoardSet::read_all() {
  rescan();
  for (auto& [slug, b] : boards_) b->events->read();
}

}  // namespace medic::kanban
