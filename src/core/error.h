#pragma once
// Error values shared by every module (the simdjson model: a domain enum plus a message).
// No module throws; fallible functions return core::Result<T>.

#include <string>
#include <string_view>

namespace medic::core {

/// Broad kind of failure; the message carries the specifics (path, rule, offset).
enum class ErrorCode {
  InvalidArgument,  ///< the caller passed something malformed (bad option, bad value)
  NotFound,         ///< a file, directory or key does not exist
  Io,               ///< a read, write or stat failed
  Parse,            ///< input text could not be parsed (YAML, JSON, duration)
  Compile,          ///< a pattern or rule set could not be compiled
  Internal,         ///< a library reported an error that means misuse
  Busy,             ///< another process holds a lock; the same call later may succeed
};

/// One failure, with a message that names what failed (a path, a rule id).
struct Error {
  ErrorCode code;
  std::string message;
};

/// Stable lower-case name of an error code, for logs.
std::string_view to_string(ErrorCode code);

}  // namespace medic::core
