#pragma once
// Reading one field of a parsed JSON object, for the messages medic reads back that a
// missing field must not fail: its own decision lines (act, subscribe, demo), Hermes's
// `task show --json`, act's store and the data of a state report. A missing or mistyped
// field is the empty value. Strict readers (the checkpoint, the socket's requests) test
// each field themselves. Parsing is simdjson's; writing is JsonWriter's.
// Thread: none of its own.

#include <simdjson.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace medic::core::json {

/// The string at `key`; "" when it is missing or not a string.
std::string str(simdjson::dom::element e, const char* key);

/// The whole number at `key`: an integer (signed, or unsigned up to INT64_MAX), or a number
/// with a fraction cut toward zero (Python writes `time.time()` that way). nullopt when it
/// is missing, not a number, or out of int64's range.
std::optional<std::int64_t> number(simdjson::dom::element e, const char* key);

/// The same, with `fallback` for nullopt.
inline std::int64_t number_or(simdjson::dom::element e, const char* key, std::int64_t fallback = 0) {
  return number(e, key).value_or(fallback);
}

/// The strings of the array at `key`, in order, other items skipped; empty when it is
/// missing or not an array.
std::vector<std::string> strings(simdjson::dom::element e, const char* key);

}  // namespace medic::core::json
