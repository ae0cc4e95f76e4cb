#pragma once
// Writes a whole file so that a crash leaves the old version or the new one, never half:
// a temporary file beside it (O_EXCL | O_NOFOLLOW), fsync, rename over, fsync of the
// directory. The one atomic writer of medic's own files (checkpoint, act.json, rule
// cache); the state reports, written inside workspaces, use report/'s descriptor-based
// variant. Thread: any.

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/result.h"

namespace medic::core {

[[nodiscard]] Result<void> write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode = 0644);

}  // namespace medic::core
