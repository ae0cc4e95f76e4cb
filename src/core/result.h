#pragma once
// Result<T> is the return type of every fallible function. tl::expected stands in for
// std::expected, which g++ 12 only offers under -std=c++23; switching is this one line.

#include <tl/expected.hpp>

#include "core/error.h"

namespace medic::core {

template <class T>
using Result = tl::expected<T, Error>;

/// Shorthand for returning an error: `return fail(ErrorCode::Io, "read " + path);`
inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace medic::core
