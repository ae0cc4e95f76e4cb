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
  // The watch itself holds what the death needs: PidWatcher forgets the key before the
  // callback runs, so a worker is reported once and may be watched again from inside it.
  return pids_.watch(key, pid, [pid, start_ticks = st->start_ticks, on_exit = std::move(on_exit)] {
    std::optional<int> status;
    const auto dead = proc_stat(pid);
    if (dead && dead->state == 'Z' && dead->start_ticks == start_ticks && exit_code_readable(pid))
      status = dead->exit_code;
    on_exit(status);
  });
}

void WorkerWatcher::unwatch(const std::string& key) { pids_.unwatch(key); }

}  // namespace medic::proc
