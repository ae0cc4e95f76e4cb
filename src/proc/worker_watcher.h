#pragma once
// Watches Hermes's worker processes, as its spawned event names them (pid and start time),
// and reports each one's exit with the wait status when it can be read. What it owns,
// taken out of the daemon (issue 13):
// - which pid is the worker: only a live local process that started when Hermes says (±2 s)
//   is; a pid that is gone, belongs to another host's worker or was reused is refused
//   (Hermes's events and the log trailer still end such runs);
// - the exit status: Hermes reaps its workers only on its tick (waitpid(-1, WNOHANG),
//   kanban_db.py reap_worker_zombies), so at the death the worker is usually an unreaped
//   zombie whose /proc stat still holds its wait status; it is read at once, guarded by
//   the start time against pid reuse, and only when the kernel shows it to medic.
// Thread: the loop thread.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/result.h"
#include "proc/pid_watcher.h"

namespace medic::proc {

class WorkerWatcher {
 public:
  /// The worker is gone; `status`: its waitpid status, when it could be read.
  using OnExit = std::function<void(std::optional<int> status)>;

  explicit WorkerWatcher(uv_loop_t* loop) : pids_(loop) {}
  WorkerWatcher(const WorkerWatcher&) = delete;
  WorkerWatcher& operator=(const WorkerWatcher&) = delete;

  /// Watches `pid` under `key` (replacing what `key` watched) if it is the worker that
  /// started at `started_at` (epoch seconds). Errors: NotFound when it is not that live
  /// local process; others when it cannot be watched (a kernel without pidfd).
  [[nodiscard]] core::Result<void> watch(const std::string& key, std::int64_t pid, std::int64_t started_at,
                                         OnExit on_exit);
  void unwatch(const std::string& key);
  bool watching(const std::string& key) const { return pids_.watching(key); }
  std::size_t size() const { return pids_.size(); }

 private:
  PidWatcher pids_;
};

}  // namespace medic::proc
