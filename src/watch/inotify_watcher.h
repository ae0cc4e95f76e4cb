#pragma once
// The Linux backend of Watcher: one inotify descriptor of medic's own on the loop
// (uv_poll), read until EAGAIN at each wake-up. libuv's uv_fs_event drops IN_Q_OVERFLOW
// silently (1.44), so with it an overflowed queue meant missed exits until a restart;
// here an overflow is seen, logged, counted and answered with a full rescan.
// inotify is an awful API: events name entries, not files, arrive coalesced, and a watch
// dies with its directory (IN_IGNORED); each of those reaches the owner as OnEntry /
// OnGone. Thread: the loop thread.

#include <uv.h>

#include <map>

#include "core/unique_fd.h"
#include "loop/uv_handle.h"
#include "watch/watcher.h"

namespace medic::watch {

class InotifyWatcher : public Watcher {
 public:
  [[nodiscard]] static core::Result<std::unique_ptr<InotifyWatcher>> create(uv_loop_t* loop);
  ~InotifyWatcher() override;

  core::Result<WatchId> add(const std::string& dir, OnEntry on_entry, OnGone on_gone) override;
  void remove(WatchId id) override;
  void on_overflow(std::function<void()> cb) override { overflow_ = std::move(cb); }
  std::uint64_t overflows() const override { return overflows_; }

 private:
  explicit InotifyWatcher(uv_loop_t* loop) : loop_(loop) {}
  void drain();

  struct Entry {
    std::string dir;
    OnEntry on_entry;
    OnGone on_gone;
  };
  uv_loop_t* loop_;
  core::UniqueFd fd_;
  loop::UvHandle<uv_poll_t> poll_;
  std::map<int, Entry> watches_;  // by inotify wd
  std::function<void()> overflow_;
  std::uint64_t overflows_ = 0;
};

}  // namespace medic::watch
