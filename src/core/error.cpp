#include "core/error.h"

namespace medic::core {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::InvalidArgument:
      return "invalid_argument";
    case ErrorCode::NotFound:
      return "not_found";
    case ErrorCode::Io:
      return "io";
    case ErrorCode::Parse:
      return "parse";
    case ErrorCode::Compile:
      return "compile";
    case ErrorCode::Internal:
      return "internal";
    case ErrorCode::Busy:
      return "busy";
  }
  return "unknown";
}

}  // namespace medic::core
