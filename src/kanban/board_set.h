#pragma once
// Every board under a Hermes root, found and kept as the root changes, taken out of the
// daemon (issue 13). What it owns:
// - the watches on the root, <root>/kanban and <root>/kanban/boards (a board made or
//   removed there is found or dropped), on each non-default board's directory (its
//   commits) and on each board's logs dir (its workers' logs);
// - each board's BoardFollower (its task_events, from the saved cursor) and its logs dir,
//   opened from the root without following a link (one that is a link is refused, never
//   watched or read: DESIGN.md §6b);
// - what a board that went away leaves: if it comes back it is read from its first event.
// What it hands on: each event and catch-up (through the followers), each change in a logs
// dir, by the live log's name (a rotated "<task>.log.1" is its "<task>.log"), each board
// dropped, and each refused name (once per key is the caller's to decide).
// Thread: the loop thread. Callbacks run on it.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "core/unique_fd.h"
#include "kanban/board_follower.h"
#include "kanban/board_layout.h"
#include "watch/watcher.h"

namespace medic::kanban {

class BoardSet {
 public:
  struct Board {
    std::string slug;
    std::string dir;         // where kanban.db lives
    std::string logs_dir;    // as a path, for names and the log follower's keys
    std::string logs_rel;    // logs_dir beneath the root
    core::UniqueFd logs_fd;  // the logs dir, reached from the root without a link; empty: not there (or refused)
    std::unique_ptr<BoardFollower> events;
    std::optional<watch::WatchId> db_watch;    // its own directory (not the default board's: the root)
    std::optional<watch::WatchId> logs_watch;  // its logs dir
  };
  struct Callbacks {
    std::function<void(Board&, const KanbanEvent&)> on_event;
    std::function<void(Board&)> on_caught_up;
    /// Where a board read for the first time starts (no saved cursor).
    std::function<std::int64_t(Board&, BoardReader&)> first_cursor;
    /// A cursor moved (the checkpoint is dirty).
    std::function<void()> on_moved;
    /// An entry of a board's logs dir changed: `name` is the live log it belongs to;
    /// `replaced`: created, moved or removed rather than only written.
    std::function<void(Board&, const std::string& name, bool replaced)> on_log;
    /// A board went away; its Board is destroyed after this returns.
    std::function<void(Board&)> on_dropped;
    /// A name refused (a bad slug, a linked board or logs dir): `key` is the same for the
    /// same refusal.
    std::function<void(const std::string& key, const std::string& message)> on_refused;
    /// A rescan starts (directories may have been created since the last one).
    std::function<void()> on_rescan;
  };

  /// `root_fd` is the root, opened by the caller, and outlives the set; so does `watcher`.
  /// `saved_cursors`: by slug, from the last run's checkpoint.
  BoardSet(uv_loop_t* loop, watch::Watcher& watcher, std::string root, int root_fd,
           std::map<std::string, std::int64_t> saved_cursors, Callbacks callbacks);
  BoardSet(const BoardSet&) = delete;
  BoardSet& operator=(const BoardSet&) = delete;
  ~BoardSet();

  /// Looks at the root again: new boards are followed (and their logs dirs listed, every
  /// log there handed to on_log), gone ones dropped, a logs dir replaced is followed anew.
  void rescan();
  /// After lost events (an inotify overflow): rescan, and read every board.
  void read_all();

  Board* find(const std::string& slug);
  /// Each board's cursor, once it has one (for the checkpoint).
  std::map<std::string, std::int64_t> cursors() const;
  std::size_t size() const { return boards_.size(); }

 private:
  void start_watches();
  // Watches `dir` into `slot` unless it is watched already; a directory that goes away
  // empties its slot and makes the boards be scanned again.
  void watch_dir(std::optional<watch::WatchId>& slot, const std::string& dir, watch::Watcher::OnEntry on_entry);
  void on_gone(const std::string& dir);
  void on_board_dir_entry(const std::string& slug, std::string_view name);
  void notify(const std::string& slug);
  void drop(const std::string& slug);
  Board& add(const BoardPlace& place);
  void follow_logs(Board& b);

  uv_loop_t* loop_;
  watch::Watcher& watcher_;
  std::string root_;
  int root_fd_;
  std::map<std::string, std::int64_t> saved_cursors_;
  Callbacks cb_;
  std::map<std::string, std::unique_ptr<Board>> boards_;  // unique_ptr: a Board (and its watch slots) never moves
  std::optional<watch::WatchId> root_watch_;
  std::optional<watch::WatchId> kanban_watch_;
  std::optional<watch::WatchId> boards_watch_;
  std::set<std::string> recreated_;  // boards whose directory went away: read from event 1 when back
  bool reading_ = false;             // a board read is on the stack (shared by all followers)
};

}  // namespace medic::kanban
