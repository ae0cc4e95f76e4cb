#include "proc/worker_watcher.h"

#include <cstdlib>
#include <string>
#include <utility>

#include "proc/proc_stat.h"

namespace medic::proc {

core::Result<void> WorkerWatcher::watch(const std::string& key, std::int64_t pid, std::int64_t started_at,
                                        OnExit on_exit) {
  unwatch(key);
  const auto st = proc_stat(pid);
  const std::int64_t started = st ? proc::started_at(*st) : -1;
  if (!st || std::llabs(started - started_at) > 2) {
    return core::fail(core::ErrorCode::NotFound, "pid " + std::to_string(pid) +
                                                     " is not a live local worker (started=" + std::to_string(started) +
                                                     " expected=" + std::to_string(started_at) + ")");
  }
  if (auto ok = pids_.watch(key, pid, [this, key] { on_death(key); }); !ok) return ok;
  workers_[key] = Worker{pid, st->start_ticks, std::move(on_exit)};
  return {};
}

void WorkerWatcher::unwatch(const std::string& key) {
  workers_.erase(key);
  pids_.unwatch(key);
}

void WorkerWatcher::on_death(const std::string& key) {
  auto it = workers_.find(key);
  if (it == workers_.end()) return;
  Worker w = std::move(it->second);
  workers_.erase(it);
  std::optional<int> status;
  const auto st = proc_stat(w.pid);
  if (st && st->state == 'Z' && st->start_ticks == w.start_ticks && exit_code_readable(w.pid)) status = st->exit_code;
  w.on_exit(status);
}

}  // namespace medic::proc
