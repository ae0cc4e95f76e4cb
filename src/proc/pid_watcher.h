#pragma once
// Tells the loop when a process dies: a pidfd (pidfd_open, Linux >= 5.3) polled by libuv,
// readable once the process has exited, whether or not its parent has reaped it yet. No
// polling of /proc and no SIGCHLD: the process need not be medic's child.
//
// Ownership: each watch holds its pidfd (core::UniqueFd) and its uv_poll_t; removing a
// watch, or a death being reported, closes both. A death is reported once, then the
// watch is gone. Thread: the loop thread; callbacks run on it.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "core/result.h"

namespace medic::proc {

class PidWatcher {
 public:
  using OnDeath = std::function<void()>;

  explicit PidWatcher(uv_loop_t* loop);
  PidWatcher(const PidWatcher&) = delete;
  PidWatcher& operator=(const PidWatcher&) = delete;
  ~PidWatcher();

  /// Watches `pid` under `key` (replacing a watch with that key). Fails when the process
  /// is gone, the kernel has no pidfd, or libuv refuses the fd.
  [[nodiscard]] core::Result<void> watch(const std::string& key, std::int64_t pid, OnDeath on_death);
  /// Stops watching `key`; nothing when there is no such watch. Safe inside a callback.
  void unwatch(const std::string& key);
  void clear();
  bool watching(const std::string& key) const;
  std::size_t size() const;

 private:
  struct Watch;
  uv_loop_t* loop_;
  std::map<std::string, std::unique_ptr<Watch>> watches_;
};

}  // namespace medic::proc
