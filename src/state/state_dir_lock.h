#pragma once
// One daemon per state directory: two would write duplicate seqs into one journal. The
// lock is an flock on <state_dir>/medic.lock, held until the process exits (or the lock is
// destroyed); the file names the holder's pid, so the refusal can say who holds it.
// Thread: any.

#include <string>

#include "core/result.h"
#include "core/unique_fd.h"

namespace medic::state {

class StateDirLock {
 public:
  /// Takes the lock, or says which process holds it (ErrorCode::Busy) or why the lock file
  /// cannot be opened. A lock file that is a link is not followed.
  [[nodiscard]] static core::Result<StateDirLock> acquire(const std::string& state_dir);

 private:
  explicit StateDirLock(core::UniqueFd fd) : fd_(std::move(fd)) {}
  core::UniqueFd fd_;
};

}  // namespace medic::state
