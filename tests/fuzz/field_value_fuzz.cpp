// The duration and time extractors on arbitrary captures: never crash, and every value
// they give is one a decision can use (a finite, non-negative delay; a positive epoch in
// seconds; an HTTP status in range).

#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <string>
#include <variant>

#include "fuzz/fuzz_target.h"
#include "match/extractor_formats.h"
#include "match/field_value.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using medic::match::FieldValue;
  FuzzedDataProvider in(data, size);
  static const char* const kNames[] = {"resets_at", "retry_after_s", "http_status", "rc", "provider", "model"};
  const char* name = kNames[in.ConsumeIntegralInRange<std::size_t>(0, std::size(kNames) - 1)];
  // A "now" from 2001 to 2286, as a clock time resolves against the time it was read.
  const std::int64_t now = in.ConsumeIntegralInRange<std::int64_t>(1'000'000'000, 9'999'999'999);
  const std::string captured = in.ConsumeRemainingBytesAsString();

  if (const auto d = medic::match::parse_duration_s(captured)) {
    FUZZ_CHECK(std::isfinite(*d) && *d >= 0);
  }
  if (const auto at = medic::match::parse_reset_time(captured, now)) {
    FUZZ_CHECK(*at > 0 && *at < 100'000'000'000);
  }
  // The extractor families expand to patterns PCRE2 compiles whenever the input did.
  (void)medic::match::expand_extractor(captured);
  const auto v = medic::match::convert_field(name, captured, now);
  if (!v) return 0;
  const std::string_view n(name);
  if (n == "resets_at") {
    FUZZ_CHECK(std::holds_alternative<std::int64_t>(*v) && std::get<std::int64_t>(*v) > 0);
    FUZZ_CHECK(std::get<std::int64_t>(*v) < 100'000'000'000);
  } else if (n == "retry_after_s") {
    FUZZ_CHECK(std::holds_alternative<double>(*v));
    FUZZ_CHECK(std::isfinite(std::get<double>(*v)) && std::get<double>(*v) >= 0);
  } else if (n == "http_status") {
    FUZZ_CHECK(std::get<std::int64_t>(*v) >= 100 && std::get<std::int64_t>(*v) <= 599);
  } else if (n == "provider" || n == "model") {
    FUZZ_CHECK(!std::get<std::string>(*v).empty());
  }
  return 0;
}
