#include "watch/inotify_watcher.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace medic::watch {

core::Result<std::unique_ptr<InotifyWatcher>> InotifyWatcher::create(uv_loop_t* loop) {
  std::unique_ptr<InotifyWatcher> w(new InotifyWatcher(loop));
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) {
    return core::fail(core::ErrorCode::Io, std::string("inotify_init1: ") + std::strerror(errno) +
                                               " (raise fs.inotify.max_user_instances?)");
  }
  w->fd_.reset(fd);
  w->poll_ = loop::UvHandle<uv_poll_t>(w.get());
  if (int rc = uv_poll_init(loop, w->poll_.get(), fd); rc != 0)
    return core::fail(core::ErrorCode::Internal, std::string("uv_poll_init(inotify): ") + uv_strerror(rc));
  w->poll_.mark_initialized();
  if (int rc = uv_poll_start(w->poll_.get(), UV_READABLE,
                             [](uv_poll_t* h, int, int) { static_cast<InotifyWatcher*>(h->data)->drain(); });
      rc != 0)
    return core::fail(core::ErrorCode::Internal, std::string("uv_poll_start(inotify): ") + uv_strerror(rc));
  return w;
}

InotifyWatcher::~InotifyWatcher() {
  poll_.reset();  // stop polling before the descriptor closes
}

core::Result<WatchId> InotifyWatcher::add(const std::string& dir, OnEntry on_entry, OnGone on_gone) {
  // IN_DONT_FOLLOW | IN_ONLYDIR: a link at the directory's name is refused, not followed.
  constexpr std::uint32_t kMask = IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE |
                                  IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK;
  const int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), kMask);
  if (wd < 0) {
    const int e = errno;
    return core::fail(
        e == ENOENT ? core::ErrorCode::NotFound : core::ErrorCode::Io,
        dir + ": inotify_add_watch: " + std::strerror(e) + (e == ENOSPC ? " (raise fs.inotify.max_user_watches)" : ""));
  }
  // The same directory twice shares a wd: the later callbacks replace the earlier ones.
  watches_[wd] = Entry{dir, std::move(on_entry), std::move(on_gone)};
  return static_cast<WatchId>(wd);
}

void InotifyWatcher::remove(WatchId id) {
  if (watches_.erase(static_cast<int>(id)) > 0) ::inotify_rm_watch(fd_.get(), static_cast<int>(id));
}

void InotifyWatcher::drain() {
  alignas(struct inotify_event) char buf[64 * 1024];
  bool overflowed = false;
  std::vector<int> gone;
  // One read returns up to 64 KiB of events (about two thousand); a name that changed
  // several times in it is reported once, at its first place: a thousand logs written at
  // once cost one read of each per batch, not one per write() of their writers.
  // Keys are views into `buf`, valid for the batch: no allocation per event.
  struct KeyHash {
    std::size_t operator()(const std::pair<int, std::string_view>& k) const {
      return std::hash<std::string_view>()(k.second) * 31 + static_cast<std::size_t>(k.first);
    }
  };
  // Each name once per batch, at its first place, with its changes merged.
  std::vector<std::tuple<int, std::string_view, Change>> changed;
  std::unordered_map<std::pair<int, std::string_view>, std::size_t, KeyHash> seen;
  for (;;) {
    const ssize_t n = ::read(fd_.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // EAGAIN: drained
    changed.clear();
    seen.clear();
    for (ssize_t off = 0; off < n;) {
      const auto* ev = reinterpret_cast<const struct inotify_event*>(buf + off);
      off += static_cast<ssize_t>(sizeof(struct inotify_event) + ev->len);
      if (ev->mask & IN_Q_OVERFLOW) {
        overflowed = true;
        continue;
      }
      if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
        gone.push_back(ev->wd);
        continue;
      }
      const std::string_view name = ev->len > 0 ? std::string_view(ev->name) : std::string_view();
      // Only IN_MODIFY and IN_CLOSE_WRITE leave the name on the same file.
      const Change change =
          (ev->mask & ~(IN_MODIFY | IN_CLOSE_WRITE | IN_ISDIR)) == 0 ? Change::Written : Change::Replaced;
      auto [at, fresh] = seen.emplace(std::make_pair(ev->wd, name), changed.size());
      if (fresh) {
        changed.emplace_back(ev->wd, name, change);
      } else if (change == Change::Replaced) {
        std::get<2>(changed[at->second]) = Change::Replaced;
      }
    }
    for (const auto& [wd, name, change] : changed) {
      auto it = watches_.find(wd);
      if (it == watches_.end()) continue;  // removed meanwhile (by a callback)
      // A copy: the callback may remove this very watch.
      const OnEntry cb = it->second.on_entry;
      if (cb) cb(name, change);
    }
  }
  for (int wd : gone) {
    auto it = watches_.find(wd);
    if (it == watches_.end()) continue;
    const OnGone cb = std::move(it->second.on_gone);
    ::inotify_rm_watch(fd_.get(), wd);
    watches_.erase(it);
    if (cb) cb();
  }
  if (overflowed) {
    ++overflows_;
    if (overflow_) overflow_();
  }
}

}  // namespace medic::watch
