#include "state/state_dir_lock.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace medic::state {

core::Result<StateDirLock> StateDirLock::acquire(const std::string& state_dir) {
  const std::string path = state_dir + "/medic.lock";
  core::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return core::fail(core::ErrorCode::Io, path + ": cannot open: " + std::strerror(errno));
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    const ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
    std::string holder = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string("?");
    holder = holder.substr(0, holder.find('\n'));
    return core::fail(core::ErrorCode::Busy, "state dir " + state_dir + " is in use by another medic (pid " + holder +
                                                 "); one daemon per state dir");
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) != 0 || ::pwrite(fd.get(), pid.data(), pid.size(), 0) < 0) {
    // The lock is held all the same; only a second daemon's refusal cannot name this pid.
    spdlog::warn("{}: cannot record the pid: {}", path, std::strerror(errno));
  }
  return StateDirLock(std::move(fd));
}

}  // namespace medic::state
