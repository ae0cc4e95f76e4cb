#pragma once
// Reads one Hermes board's task_events as they land, taken out of the daemon (issue 13).
// What it owns:
// - one read-only SQLite connection, kept open (opening one as root makes SQLite chown the
//   -wal/-shm files, and reopening per change would feed those events back), reopened
//   once Hermes creates -shm (a connection opened without it never sees later commits)
//   and when kanban.db is replaced (then read from its first event);
// - where a board with no saved cursor starts: at first_cursor (from now on) when its
//   kanban.db was there when first looked for, at its first event when the database was
//   made while followed (`hermes kanban boards create`, or Hermes's first run);
// - the cursor on task_events (where a board seen for the first time starts is the
//   caller's: first_cursor);
// - the settle series: a commit is visible only once the writer has also updated the WAL
//   index in the mmapped -shm (which inotify does not see), so each notification arms
//   re-reads 5, 25, 100, 400 and 1600 ms after it, a one-shot per burst, not polling;
// - the busy retry: a board another process holds locked is read again 50 ms later,
//   without blocking the loop meanwhile.
// Events go out in id order (on_event), then on_caught_up once a read reached the end.
// A read is never re-entered: `reading` is shared by all boards (an event's handling may
// ask for a drain of any board while a read is on the stack).
// Thread: the loop thread.

#include <uv.h>

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "kanban/board_reader.h"
#include "loop/uv_handle.h"
#include "core/ids.h"

namespace medic::kanban {

class BoardFollower {
 public:
  struct Callbacks {
    std::function<void(const KanbanEvent&)> on_event;
    std::function<void()> on_caught_up;
    /// Where a board read for the first time starts (its last event id: from now on).
    std::function<std::int64_t(BoardReader&)> first_cursor;
    /// The cursor moved (the checkpoint is dirty).
    std::function<void()> on_moved;
  };
  /// `cursor`: the saved cursor, -1 when none (first_cursor decides), 0 for every event.
  BoardFollower(uv_loop_t* loop, std::string slug, std::string db_path, std::int64_t cursor, bool& reading,
                Callbacks callbacks);
  BoardFollower(const BoardFollower&) = delete;
  BoardFollower& operator=(const BoardFollower&) = delete;

  /// inotify saw a write to the board's files: read now, and again in the settle series.
  void notified();
  /// Reads what is new (unless a read is on the stack).
  void read();
  /// Reads what is new now (unless a read is on the stack); false when the last read could
  /// not reach the end (the board is locked: it is read again soon).
  bool drain();
  /// Reads again in 50 ms (a wait for something not committed or not visible yet).
  void read_soon();

  /// The open connection, for the task rows and run history (null until the db exists).
  BoardReader* reader() { return reader_ ? &*reader_ : nullptr; }
  std::int64_t cursor() const { return cursor_; }
  bool read_complete() const { return read_complete_; }
  const std::string& slug() const { return slug_; }

 private:
  static void on_settle(uv_timer_t* t);
  bool open_reader();

  static constexpr std::array<std::uint64_t, 5> kSettleMs = {5, 25, 100, 400, 1600};
  uv_loop_t* loop_;
  std::string slug_;
  std::string db_path_;
  std::int64_t cursor_;
  bool& reading_;
  Callbacks cb_;
  std::optional<BoardReader> reader_;
  bool opened_with_shm_ = false;
  bool made_since_ = false;    // kanban.db was missing when first looked for: all its events are new
  core::FileId db_id_;         // the kanban.db the reader opened
  bool read_complete_ = true;  // the last read reached the end of task_events
  loop::UvHandle<uv_timer_t> settle_;
  std::size_t settle_step_ = 0;
  loop::UvHandle<uv_timer_t> busy_retry_;
};

}  // namespace medic::kanban
