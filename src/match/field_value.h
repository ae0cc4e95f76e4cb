#pragma once
// Turns the text an extractor captured into a typed field value. Pure functions: the
// current time is a parameter, so a clock time resolves the same way in a test and live.

#include <cstdint>
#include <optional>
#include <string_view>

#include "match/hit.h"

namespace medic::match {

/// Parses a wait as written by providers and clients: "3.89s", "174ms", "7m12s",
/// "4h28m20s", "1h2m3.5s", "86400 seconds", "3 days 4 hours 5 minutes", "3h 47m",
/// "2 hours and 5 minutes", "~30s", "117 秒", or a bare number of seconds. Returns seconds;
/// nullopt for text that is not a duration or that overflows.
std::optional<double> parse_duration_s(std::string_view text);

/// Parses a reset instant and returns it in epoch seconds:
/// - an epoch in seconds, or in milliseconds (13 digits);
/// - ISO 8601 with a zone: "2026-04-01T00:00:00Z", "2025-09-25T02:30:44.5+02:00",
///   "2026-04-01 at 00:00 UTC";
/// - a clock time with a named zone or UTC offset, optionally with a month and day:
///   "3:30am (Asia/Calcutta)", "3pm (America/Bogota)", "Feb 7, 11am (Asia/Seoul)",
///   "12:00 UTC", "09:00 +05:30", "midnight Pacific": the next such instant after now_s.
/// A time without a zone is ambiguous and gives nullopt.
std::optional<std::int64_t> parse_reset_time(std::string_view text, std::int64_t now_s);

/// Converts a captured value by field name: resets_at (parse_reset_time), http_status
/// (100..599), rc (an exit code), retry_after_s (a duration); anything else is kept as
/// text. Returns nullopt when a typed field's text does not parse.
std::optional<FieldValue> convert_field(std::string_view name, std::string_view captured, std::int64_t now_s);

}  // namespace medic::match
