#pragma once
// Turns the text an extractor captured into a typed field value. Pure functions.

#include <optional>
#include <string_view>

#include "match/hit.h"

namespace medic::match {

/// Parses a wait as written by providers: "3.89s", "174ms", "7m12s", "4h28m20s",
/// "86400 seconds", "2 minutes", "26s", or a bare number of seconds. Returns seconds.
std::optional<double> parse_duration_s(std::string_view text);

/// Converts a captured value by field name: resets_at (epoch seconds; epoch milliseconds
/// are scaled down), http_status (100..599), rc (an exit code), retry_after_s (a
/// duration); anything else is kept as text. Returns nullopt when a typed field's text does not parse.
std::optional<FieldValue> convert_field(std::string_view name, std::string_view captured);

}  // namespace medic::match
