#include "proc/pid_watcher.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/unique_fd.h"
#include "loop/uv_handle.h"

namespace medic::proc {

// `poll` is declared after `pidfd` so it is closed first.
struct PidWatcher::Watch {
  PidWatcher* owner = nullptr;
  std::string key;
  OnDeath on_death;
  core::UniqueFd pidfd;
  loop::UvHandle<uv_poll_t> poll;
};

PidWatcher::PidWatcher(uv_loop_t* loop) : loop_(loop) {}

PidWatcher::~PidWatcher() { clear(); }

core::Result<void> PidWatcher::watch(const std::string& key, std::int64_t pid, OnDeath on_death) {
  unwatch(key);
  const int fd = static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
  if (fd < 0) {
    return core::fail(core::ErrorCode::Io, "pidfd_open(" + std::to_string(pid) + "): " + std::strerror(errno));
  }
  auto w = std::make_unique<Watch>();
  w->owner = this;
  w->key = key;
  w->on_death = std::move(on_death);
  w->pidfd.reset(fd);
  w->poll = loop::UvHandle<uv_poll_t>(w.get());
  if (const int rc = uv_poll_init(loop_, w->poll.get(), fd); rc != 0) {
    return core::fail(core::ErrorCode::Io, std::string("uv_poll_init: ") + uv_strerror(rc));
  }
  w->poll.mark_initialized();
  if (const int rc = uv_poll_start(w->poll.get(), UV_READABLE,
                                   [](uv_poll_t* h, int, int) {
                                     auto* self = static_cast<Watch*>(h->data);
                                     // The watch goes before the callback runs (it may watch
                                     // the key again); the callback is moved out first.
                                     OnDeath cb = std::move(self->on_death);
                                     self->owner->unwatch(self->key);
                                     if (cb) cb();
                                   });
      rc != 0) {
    return core::fail(core::ErrorCode::Io, std::string("uv_poll_start: ") + uv_strerror(rc));
  }
  watches_[key] = std::move(w);
  return {};
}

void PidWatcher::unwatch(const std::string& key) { watches_.erase(key); }

void PidWatcher::clear() { watches_.clear(); }

bool PidWatcher::watching(const std::string& key) const { return watches_.count(key) != 0; }

std::size_t PidWatcher::size() const { return watches_.size(); }

}  // namespace medic::proc
