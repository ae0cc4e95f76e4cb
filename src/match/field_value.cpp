#include "match/field_value.h"

#include <cctype>
#include <charconv>
#include <string>

namespace medic::match {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::optional<double> unit_seconds(std::string_view unit) {
  std::string u;
  for (char c : unit) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (u.empty() || u == "s" || u == "sec" || u == "secs" || u == "second" || u == "seconds") return 1.0;
  if (u == "ms" || u == "msec" || u == "millisecond" || u == "milliseconds") return 0.001;
  if (u == "us" || u == "µs" || u == "microsecond" || u == "microseconds") return 1e-6;
  if (u == "m" || u == "min" || u == "mins" || u == "minute" || u == "minutes") return 60.0;
  if (u == "h" || u == "hr" || u == "hrs" || u == "hour" || u == "hours") return 3600.0;
  if (u == "d" || u == "day" || u == "days") return 86400.0;
  return std::nullopt;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  s = trim(s);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::optional<double> parse_duration_s(std::string_view text) {
  std::string_view s = trim(text);
  // Strip quotes a JSON capture may keep ("26s").
  while (!s.empty() && (s.front() == '"' || s.front() == '\'')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == '"' || s.back() == '\'' || s.back() == '.')) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  double total = 0;
  bool any = false;
  while (!s.empty()) {
    // number
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double value = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + i, value);
    if (ec != std::errc{} || p != s.data() + i) return std::nullopt;
    s.remove_prefix(i);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    // unit: letters (and the micro sign's bytes)
    std::size_t j = 0;
    while (j < s.size() &&
           (std::isalpha(static_cast<unsigned char>(s[j])) || static_cast<unsigned char>(s[j]) >= 0x80)) {
      ++j;
    }
    auto factor = unit_seconds(s.substr(0, j));
    if (!factor) return std::nullopt;
    s.remove_prefix(j);
    while (!s.empty() && (s.front() == ' ' || s.front() == ',')) s.remove_prefix(1);
    total += value * *factor;
    any = true;
  }
  if (!any) return std::nullopt;
  return total;
}

std::optional<FieldValue> convert_field(std::string_view name, std::string_view captured) {
  if (name == "resets_at") {
    auto v = parse_int(captured);
    if (!v || *v <= 0) return std::nullopt;
    // 13 digits is epoch milliseconds (JavaScript clients); scale to seconds.
    if (*v >= 100'000'000'000) *v /= 1000;
    return FieldValue{*v};
  }
  if (name == "http_status") {
    auto v = parse_int(captured);
    if (!v || *v < 100 || *v > 599) return std::nullopt;
    return FieldValue{*v};
  }
  if (name == "rc") {  // an exit code (the Hermes exit trailer)
    auto v = parse_int(captured);
    if (!v) return std::nullopt;
    return FieldValue{*v};
  }
  if (name == "retry_after_s") {
    auto v = parse_duration_s(captured);
    if (!v || *v < 0) return std::nullopt;
    return FieldValue{*v};
  }
  std::string_view t = trim(captured);
  if (t.empty()) return std::nullopt;
  return FieldValue{std::string(t)};
}

const FieldValue* find_field(const Fields& fields, std::string_view name) {
  for (const Field& f : fields) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

}  // namespace medic::match
