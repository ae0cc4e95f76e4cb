#pragma once
// How the end of a run reaches the run tracker, taken out of the daemon (issue 13). A
// worker's exit is seen three ways, whichever comes first (DESIGN.md §2): the exit trailer
// Hermes writes at the end of its log, the death of the worker's pid, and Hermes's own
// run-ending event (that one comes through the board, not here). Some exits must wait:
// - an rc=0 trailer while its board is locked by another process: whether the worker
//   called kanban_complete first is on the board, so it waits until the board is read;
// - a trailer of a run whose claim is not read yet (a worker that failed at once): it
//   waits for the claim, up to kUnknownRunWaitMs;
// - a pid death with no exit status to read and nothing in its log: it waits for
//   Hermes's event until the tracker's bound (a timer per run).
// Everything the tracker answers goes to the caller's `apply`.
// Thread: the loop thread.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "decide/run_tracker.h"
#include "loop/uv_handle.h"
#include "proc/worker_watcher.h"

namespace medic::app {

class RunExits {
 public:
  struct Callbacks {
    /// The board is still followed (an exit of a board that went away is dropped).
    std::function<bool(const std::string& board)> has_board;
    /// Reads the board's pending events now; false when another process holds it locked
    /// (it is read again soon).
    std::function<bool(const std::string& board)> drain;
    /// Reads the board again in a moment (a claim committed but not visible yet).
    std::function<void(const std::string& board)> read_soon;
    /// Reads the task's log to its end: the worker is gone, its last bytes are there.
    std::function<void(const std::string& board, const std::string& task)> finish_log;
    /// Carries out what the tracker answered for the board's task.
    std::function<void(const std::string& board, const std::string& task, decide::Effects fx)> apply;
  };
  // How long an exit whose claim is not read yet waits for it (a commit seen late is seen
  // within the board follower's settle series, 2.1 s at most).
  static constexpr std::uint64_t kUnknownRunWaitMs = 2500;

  RunExits(uv_loop_t* loop, decide::RunTracker& tracker, const core::Clock& clock, Callbacks callbacks);
  RunExits(const RunExits&) = delete;
  RunExits& operator=(const RunExits&) = delete;

  /// The log's exit trailer, with its rc.
  void on_trailer(const std::string& board, const std::string& task, int rc);
  /// The board has been read to its end: the exits that waited for it are decided (those
  /// whose claim is still not there wait on, to their bound).
  void on_caught_up(const std::string& board);
  /// A board that went away: its waiting exits go with it.
  void drop_board(const std::string& board);

  /// Watches the run's worker; its death is an exit. A pid that is not this worker
  /// (gone, reused, another host's) is not watched: trailers and events still end the run.
  void watch_pid(const std::string& board, const std::string& task, const decide::PidWatch& w);
  void unwatch_pid(const std::string& board, const std::string& task);
  /// A pid death waits for Hermes's run-ending event until `until` (then the tracker decides).
  void arm_wait(const std::string& board, const std::string& task, core::EpochSeconds until);
  void cancel_wait(const std::string& board, const std::string& task);
  /// Closes every watch and timer (at the stop, before the loop closes).
  void stop();

  std::uint64_t pid_exits() const { return pid_exits_; }
  std::uint64_t pid_exits_with_status() const { return pid_exits_with_status_; }
  std::size_t waiting(const std::string& board) const;

 private:
  struct Deferred {
    std::string task;
    int rc = 0;
    std::uint64_t until_ms = 0;  // uv_now; 0: wait for as long as the board is locked
  };
  struct WaitTimer {
    RunExits* self = nullptr;
    std::string board;
    std::string task;
    loop::UvHandle<uv_timer_t> timer;
  };
  static std::string key(const std::string& board, const std::string& task) { return board + "/" + task; }
  void on_worker_exit(const std::string& board, const std::string& task, std::int64_t run_id,
                      std::optional<int> status);

  uv_loop_t* loop_;
  decide::RunTracker& tracker_;
  const core::Clock& clock_;
  Callbacks cb_;
  std::optional<proc::WorkerWatcher> workers_;             // each task's current worker, by board/task
  std::map<std::string, std::vector<Deferred>> deferred_;  // by board
  std::map<std::string, WaitTimer> waits_;                 // by board/task
  std::uint64_t pid_exits_ = 0;
  std::uint64_t pid_exits_with_status_ = 0;
};

}  // namespace medic::app
