#pragma once
// Writes the daemon's checkpoint off the loop thread (issue 13): the state is copied on the
// loop (the snapshot callback), then encoded, written atomically and fsynced on the
// threadpool, one write at a time; a save asked for while one is in flight writes once
// more after it, with the state of that moment. Before each write, the journal segment the
// journal_sync callback hands over is fdatasynced: the checkpoint never gets ahead of the
// journal on disk (a checkpoint that says a decision was made, with the decision lost, is
// the one thing a restart could not repair).
// Ownership: the writer must outlive the loop's last run (teardown closes the loop first).
// Thread: the loop thread (the work runs on the threadpool).

#include <uv.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "core/result.h"
#include "core/unique_fd.h"
#include "state/checkpoint.h"

namespace medic::state {

class CheckpointWriter {
 public:
  struct Callbacks {
    /// A copy of the state now (on the loop thread).
    std::function<Checkpoint()> snapshot;
    /// The journal's newest segment to fdatasync first (empty: nothing appended since).
    std::function<core::UniqueFd()> journal_sync;
  };
  CheckpointWriter(uv_loop_t* loop, std::string path, Callbacks callbacks);
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  /// Writes the state off the loop thread (again after the write in flight, if any).
  void save();
  /// Writes the state now, on this thread, after the write in flight (at the stop, with the
  /// loop stopped; the caller syncs the journal).
  [[nodiscard]] core::Result<void> save_now();

  bool busy() const { return busy_; }
  std::uint64_t writes() const { return writes_; }
  std::uint64_t errors() const { return errors_; }
  const std::string& path() const { return path_; }

 private:
  struct Work;
  void done(Work& w);

  uv_loop_t* loop_;
  std::string path_;
  Callbacks cb_;
  bool busy_ = false;
  bool again_ = false;
  std::uint64_t writes_ = 0;
  std::uint64_t errors_ = 0;
};

/// The checkpoint at `path`: nullopt when there is none; an error when it cannot be read
/// or is not a checkpoint (the daemon then rebuilds from the journal and the boards).
[[nodiscard]] core::Result<std::optional<Parsed>> load(const std::string& path);

}  // namespace medic::state
