#pragma once
// Writes the daemon's checkpoint off the loop thread (issue 13): the state is copied on the
// loop (the snapshot callback), then encoded, written atomically and fsynced on the
// threadpool, one write at a time; a save asked for while one is in flight writes once
// more after it, with the state of that moment. Before each write, the journal segment the
// journal_sync callback hands over is fdatasynced: the checkpoint never gets ahead of the
// journal on disk (a checkpoint that says a decision was made, with the decision lost, is
// the one thing a restart could not repair).
// A side file (the parked logs' positions, which change far less often than the rest and
// can be many) is written in the same work, after the journal's sync, only when its
// content changed: most checkpoints then carry only what moves. When it cannot be written
// the checkpoint is not written either (the one on disk still lists those logs as open).
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
    /// The side file's content when it changed since it was last handed over, or whatever
    /// it is when `again` (its last write failed); nullopt: unchanged. Unset: no side file.
    std::function<std::optional<Checkpoint>(bool again)> side;
    /// The segment journal_sync handed over could not be synced: hand it over again next
    /// time (else the next checkpoint, with nothing appended since, would skip the sync
    /// and name lines that may not be on disk). Unset: nothing to tell.
    std::function<void()> journal_unsynced;
  };
  CheckpointWriter(uv_loop_t* loop, std::string path, Callbacks callbacks, std::string side_path = {});
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  /// Writes the state off the loop thread (again after the write in flight, if any).
  void save();
  /// Writes the state now, on this thread, after the write in flight (at the stop, with the
  /// loop stopped; the caller syncs the journal).
  [[nodiscard]] core::Result<void> save_now();

  bool busy() const { return busy_; }
  /// Runs the loop until the write in flight, if any, is done.
  void wait() {
    while (busy_) uv_run(loop_, UV_RUN_ONCE);
  }
  /// The last write failed (the caller saves again even with nothing new to say).
  bool failed_last() const { return failed_last_; }
  std::uint64_t writes() const { return writes_; }
  std::uint64_t errors() const { return errors_; }
  const std::string& path() const { return path_; }
  const std::string& side_path() const { return side_path_; }

 private:
  struct Work;
  void done(Work& w);

  uv_loop_t* loop_;
  std::string path_;
  std::string side_path_;
  Callbacks cb_;
  bool side_again_ = false;  // the side file's last write failed: hand it over whole again
  bool failed_last_ = false;
  bool busy_ = false;
  bool again_ = false;
  std::uint64_t writes_ = 0;
  std::uint64_t errors_ = 0;
};

/// The checkpoint at `path`: nullopt when there is none; an error when it cannot be read
/// or is not a checkpoint (the daemon then rebuilds from the journal and the boards).
[[nodiscard]] core::Result<std::optional<Parsed>> load(const std::string& path);

}  // namespace medic::state
