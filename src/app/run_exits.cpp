#include "app/run_exits.h"

#include <spdlog/spdlog.h>
#include <sys/wait.h>

#include <algorithm>
#include <iterator>

#include "loop/handles.h"

namespace medic::app {

RunExits::RunExits(uv_loop_t* loop, decide::RunTracker& tracker, const core::Clock& clock, Callbacks callbacks)
    : loop_(loop), tracker_(tracker), clock_(clock), cb_(std::move(callbacks)) {
  workers_.emplace(loop);
}

std::size_t RunExits::waiting(const std::string& board) const {
  auto it = deferred_.find(board);
  return it == deferred_.end() ? 0 : it->second.size();
}

void RunExits::on_trailer(const std::string& board, const std::string& task, int rc) {
  const std::string k = key(board, task);
  // rc=0 is no failure when the worker's kanban_complete or kanban_block came first
  // (committed before it exited); an exit of a run not yet known needs its claim. Both
  // are on the board: read its pending events before deciding.
  const std::int64_t current = tracker_.current_run(k);
  const bool needs_board = rc == 0 || current == 0 || tracker_.decided(k + "/" + std::to_string(current));
  const bool board_read = !needs_board || cb_.drain(board);
  if (!board_read && rc == 0) {
    // Whether the worker called kanban_complete is on a board another process holds
    // locked: this exit waits for it (an rc != 0 with its log's evidence does not).
    deferred_[board].push_back({task, rc, 0});
    spdlog::debug("task={} rc=0 waits for board={} (locked)", task, board);
    return;
  }
  if (tracker_.current_run(k) == 0) {
    // A worker that failed at once: its claim is behind a lock, or committed but not yet
    // visible. The exit waits for it (bounded), rather than being dropped as an exit of
    // no known run.
    deferred_[board].push_back({task, rc, uv_now(loop_) + kUnknownRunWaitMs});
    if (board_read) cb_.read_soon(board);
    spdlog::debug("task={} rc={} waits for its claim on board={}", task, rc, board);
    return;
  }
  cb_.apply(board, task, tracker_.on_trailer(k, rc, clock_.now()));
}

void RunExits::on_caught_up(const std::string& board) {
  auto waiting = deferred_.find(board);
  if (waiting == deferred_.end()) return;
  std::vector<Deferred> deferred = std::move(waiting->second);
  deferred_.erase(waiting);
  std::vector<Deferred> still;
  const std::uint64_t now_ms = uv_now(loop_);
  for (auto& t : deferred) {
    const std::string k = key(board, t.task);
    if (tracker_.current_run(k) == 0 && now_ms < t.until_ms) {
      still.push_back(std::move(t));  // its claim may still be on its way
      continue;
    }
    cb_.apply(board, t.task, tracker_.on_trailer(k, t.rc, clock_.now()));
  }
  if (!still.empty()) {
    auto& slot = deferred_[board];
    slot.insert(slot.begin(), std::make_move_iterator(still.begin()), std::make_move_iterator(still.end()));
    cb_.read_soon(board);
  }
}

void RunExits::drop_board(const std::string& board) { deferred_.erase(board); }

void RunExits::watch_pid(const std::string& board, const std::string& task, const decide::PidWatch& w) {
  // A pid that is not this worker (gone, another host's, reused), or a kernel without
  // pidfd (before 5.3): no exit detection by pid. The exit callback carries the run the
  // worker belongs to.
  auto ok = workers_->watch(
      key(board, task), w.pid, w.started_at,
      [this, board, task, run = w.run_id](std::optional<int> status) { on_worker_exit(board, task, run, status); });
  if (!ok) {
    if (ok.error().code == core::ErrorCode::NotFound) {
      spdlog::debug("task={} {}", task, ok.error().message);
    } else {
      spdlog::warn("task={} pid={} not watched: {}", task, w.pid, ok.error().message);
    }
    return;
  }
  spdlog::debug("task={} run={} pid={} watched", task, w.run_id, w.pid);
}

void RunExits::unwatch_pid(const std::string& board, const std::string& task) { workers_->unwatch(key(board, task)); }

void RunExits::on_worker_exit(const std::string& board, const std::string& task, std::int64_t run_id,
                              std::optional<int> status) {
  if (!cb_.has_board(board)) return;
  // The worker is gone: its last bytes are in the log, read them before deciding.
  cb_.finish_log(board, task);
  // A clean exit (or none known) is no failure when the worker's kanban_complete or
  // kanban_block was committed before it: read the board's pending events first.
  if (!status || (WIFEXITED(*status) && WEXITSTATUS(*status) == 0)) cb_.drain(board);
  ++pid_exits_;
  if (status) ++pid_exits_with_status_;
  cb_.apply(board, task, tracker_.on_pid_exit(key(board, task), run_id, status, clock_.now()));
}

void RunExits::arm_wait(const std::string& board, const std::string& task, core::EpochSeconds until) {
  WaitTimer& w = waits_[key(board, task)];
  w.self = this;
  w.board = board;
  w.task = task;
  if (!w.timer) {
    auto made = loop::make_timer(loop_, &w);
    if (!made) {
      spdlog::error("event loop: {}", made.error().message);
      return;
    }
    w.timer = std::move(*made);
  }
  const std::int64_t delay_ms = std::max<std::int64_t>(0, (until - clock_.now()) * 1000);
  loop::arm(
      w.timer,
      [](uv_timer_t* t) {
        auto* wt = static_cast<WaitTimer*>(t->data);
        RunExits& self = *wt->self;
        const std::string b = wt->board;
        const std::string k = key(wt->board, wt->task);
        const std::string tk = wt->task;
        if (!self.cb_.has_board(b)) return;
        // Hermes's event may be committed but not yet read: read the board first.
        self.cb_.drain(b);
        self.cb_.apply(b, tk, self.tracker_.on_wait_expired(k, self.clock_.now()));
      },
      static_cast<std::uint64_t>(delay_ms), 0, "wait for Hermes's event");
  spdlog::debug("task={} waits up to {} s for Hermes's run-ending event", task, until - clock_.now());
}

void RunExits::cancel_wait(const std::string& board, const std::string& task) { waits_.erase(key(board, task)); }

void RunExits::stop() {
  workers_.reset();
  waits_.clear();
}

}  // namespace medic::app
