#pragma once
// Watches directories for changes to their entries (the Envoy model: watch the directory,
// filter by name). The interface is small so that another backend (kqueue, a stat poll)
// can drop in; the one used is chosen in CMake.
// Thread: the loop thread. Callbacks run on it.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"

namespace medic::watch {

using WatchId = std::int64_t;

class Watcher {
 public:
  /// What may have happened to an entry, as far as the backend can tell.
  enum class Change {
    Written,   // only written to (or closed): the name still holds the same file
    Replaced,  // created, moved, removed, or unknown: the owner looks at what is there now
  };
  /// An entry named `name` in the watched directory changed; changes since the last call
  /// are merged (Replaced wins).
  using OnEntry = std::function<void(std::string_view name, Change change)>;
  /// The watched directory itself went away (deleted, moved, unmounted); the watch is gone.
  using OnGone = std::function<void()>;

  virtual ~Watcher() = default;
  /// Watches `dir`, never through a link at its last component.
  [[nodiscard]] virtual core::Result<WatchId> add(const std::string& dir, OnEntry on_entry, OnGone on_gone) = 0;
  virtual void remove(WatchId id) = 0;
  /// Called when events were lost (the kernel's queue overflowed): the owner must rescan
  /// everything it watches, since any change may have been missed.
  virtual void on_overflow(std::function<void()> cb) = 0;
  virtual std::uint64_t overflows() const = 0;
};

using WatcherPtr = std::unique_ptr<Watcher>;

}  // namespace medic::watch
