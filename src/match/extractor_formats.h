#pragma once
// The format families extractors are written in, once: rule authors name a family as a
// placeholder inside an extractor pattern and the matcher expands it before PCRE2 compiles
// the pattern. Each family is what field_value.h parses.
//
//   {kv:NAME}   a key and its separator in JSON, Python repr, YAML, headers or k=v:
//               "NAME": / 'NAME': / NAME: / NAME= / NAME = , with an opening quote
//               of the value (NAME is a regex, e.g. resets?_at|reset-at)
//   {duration}  a wait in any unit words, compound or Go style ("3 days 4 hours",
//               "1h2m3.5s", "634ms", "2 hours and 5 minutes")
//   {epoch}     epoch seconds or milliseconds (9 to 13 digits)
//   {datetime}  an ISO 8601 instant with its zone ("2026-04-01T00:00:00Z",
//               "2026-04-01 at 00:00 UTC")
//   {clock}     a clock time with a zone, optionally after a month and day
//               ("3:30am (Asia/Calcutta)", "Feb 7, 11am (Asia/Seoul)", "12:00 UTC")
//
// Placeholders take no capture group of their own: wrap them in ( ) to capture.

#include <string>
#include <string_view>

namespace medic::match {

/// Expands every known placeholder; unknown `{...}` text is left for PCRE2 (a quantifier
/// such as {0,30} is not a placeholder).
std::string expand_extractor(std::string_view pattern);

}  // namespace medic::match
