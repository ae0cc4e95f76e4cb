#include "match/field_value.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <date/date.h>
#include <date/tz.h>
#include <pcre2.h>

#include <array>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <variant>

#include "core/json_writer.h"

namespace medic::match {
namespace {

// Reset instants past this (the year 5138) are not waits a decision can use.
constexpr std::int64_t kEpochSecondsLimit = 100'000'000'000;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string u;
  for (char c : s) u += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return u;
}

std::optional<double> unit_seconds(std::string_view unit) {
  const std::string u = lower(unit);
  if (u.empty() || u == "s" || u == "sec" || u == "secs" || u == "second" || u == "seconds" || u == "秒" ||
      u == "秒钟") {
    return 1.0;
  }
  if (u == "ms" || u == "msec" || u == "msecs" || u == "millisecond" || u == "milliseconds") return 0.001;
  if (u == "us" || u == "µs" || u == "microsecond" || u == "microseconds") return 1e-6;
  if (u == "m" || u == "min" || u == "mins" || u == "minute" || u == "minutes" || u == "分钟") return 60.0;
  if (u == "h" || u == "hr" || u == "hrs" || u == "hour" || u == "hours" || u == "小时") return 3600.0;
  if (u == "d" || u == "day" || u == "days" || u == "天") return 86400.0;
  if (u == "w" || u == "week" || u == "weeks") return 604800.0;
  return std::nullopt;
}

std::optional<std::int64_t> parse_int(std::string_view s) {
  s = trim(s);
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

bool is_separator(std::string_view s, std::size_t* len) {
  if (s.empty()) return false;
  if (s.front() == ' ' || s.front() == ',' || s.front() == '\t') {
    *len = 1;
    return true;
  }
  if (s.substr(0, 3) == "and" && (s.size() == 3 || s[3] == ' ')) {
    *len = 3;
    return true;
  }
  return false;
}

// --- reset instants ----------------------------------------------------------------------

struct Pcre2Free {
  void operator()(pcre2_code* c) const { pcre2_code_free(c); }
};
using Regex = std::unique_ptr<pcre2_code, Pcre2Free>;

Regex compile(const char* pattern) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  return Regex(pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern), PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &code,
                             &offset, nullptr));
}

// Named groups of one match, as views into the subject.
class Groups {
 public:
  Groups(const pcre2_code* re, std::string_view subject) : re_(re), subject_(subject) {
    md_ = pcre2_match_data_create_from_pattern(re, nullptr);
    ok_ = md_ != nullptr &&
          pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(subject.data()), subject.size(), 0, 0, md_, nullptr) > 0;
  }
  ~Groups() { pcre2_match_data_free(md_); }
  Groups(const Groups&) = delete;
  Groups& operator=(const Groups&) = delete;

  bool ok() const { return ok_; }
  std::string_view operator[](const char* name) const {
    const int n = pcre2_substring_number_from_name(re_, reinterpret_cast<PCRE2_SPTR>(name));
    if (n < 0) return {};
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md_);
    if (ov[2 * n] == PCRE2_UNSET) return {};
    return subject_.substr(ov[2 * n], ov[2 * n + 1] - ov[2 * n]);
  }
  int number(const char* name) const {
    auto v = parse_int((*this)[name]);
    return v ? static_cast<int>(*v) : 0;
  }

 private:
  const pcre2_code* re_;
  std::string_view subject_;
  pcre2_match_data* md_ = nullptr;
  bool ok_ = false;
};

// A zone as an IANA zone or a fixed offset from UTC, in minutes.
struct Zone {
  const date::time_zone* tz = nullptr;
  int offset_min = 0;
};

std::optional<Zone> parse_zone(std::string_view text) {
  const std::string z(trim(text));
  if (z.empty()) return std::nullopt;
  const std::string l = lower(z);
  if (l == "z" || l == "utc" || l == "gmt") return Zone{};
  std::string_view off = z;
  if (l.rfind("utc", 0) == 0 || l.rfind("gmt", 0) == 0) off.remove_prefix(3);
  if (!off.empty() && (off.front() == '+' || off.front() == '-')) {
    const int sign = off.front() == '-' ? -1 : 1;
    std::string digits;
    for (char c : off.substr(1)) {
      if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    }
    if (digits.empty() || digits.size() > 4) return std::nullopt;
    int hours = 0;
    int minutes = 0;
    if (digits.size() <= 2) {
      hours = std::stoi(digits);
    } else {
      hours = std::stoi(digits.substr(0, digits.size() - 2));
      minutes = std::stoi(digits.substr(digits.size() - 2));
    }
    if (hours > 14 || minutes > 59) return std::nullopt;
    return Zone{nullptr, sign * (hours * 60 + minutes)};
  }
  // Common North American names and abbreviations (the ones CLIs print) map to the IANA
  // zone that keeps their daylight-saving rule.
  static const std::array<std::pair<std::string_view, std::string_view>, 16> kNames{{
      {"pacific", "America/Los_Angeles"},
      {"pt", "America/Los_Angeles"},
      {"pst", "America/Los_Angeles"},
      {"pdt", "America/Los_Angeles"},
      {"eastern", "America/New_York"},
      {"et", "America/New_York"},
      {"est", "America/New_York"},
      {"edt", "America/New_York"},
      {"central", "America/Chicago"},
      {"cst", "America/Chicago"},
      {"cdt", "America/Chicago"},
      {"mountain", "America/Denver"},
      {"mst", "America/Denver"},
      {"mdt", "America/Denver"},
      {"jst", "Asia/Tokyo"},
      {"kst", "Asia/Seoul"},
  }};
  std::string name = z;
  for (const auto& [abbr, iana] : kNames) {
    if (l == abbr) name = std::string(iana);
  }
  if (name.find('/') == std::string::npos) return std::nullopt;
  try {
    return Zone{date::locate_zone(name), 0};
  } catch (const std::exception&) {  // not in the system's tz database
    return std::nullopt;
  }
}

using Seconds = std::chrono::seconds;
using LocalSeconds = date::local_time<Seconds>;

std::int64_t to_epoch(const Zone& zone, LocalSeconds local) {
  if (zone.tz == nullptr) {
    return local.time_since_epoch().count() - static_cast<std::int64_t>(zone.offset_min) * 60;
  }
  // A wall time that a daylight-saving change skips or repeats takes its earliest reading.
  return zone.tz->to_sys(local, date::choose::earliest).time_since_epoch().count();
}

LocalSeconds to_local(const Zone& zone, std::int64_t epoch) {
  if (zone.tz == nullptr) return LocalSeconds{Seconds{epoch + static_cast<std::int64_t>(zone.offset_min) * 60}};
  return zone.tz->to_local(date::sys_seconds{Seconds{epoch}});
}

std::optional<int> month_number(std::string_view name) {
  static constexpr std::array<std::string_view, 12> kMonths{"jan", "feb", "mar", "apr", "may", "jun",
                                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  const std::string l = lower(name.substr(0, 3));
  for (std::size_t i = 0; i < kMonths.size(); ++i) {
    if (l == kMonths[i]) return static_cast<int>(i) + 1;
  }
  return std::nullopt;
}

std::optional<std::int64_t> parse_iso(std::string_view text) {
  static const Regex re =
      compile(R"(^(?<y>\d{4})-(?<mo>\d\d)-(?<d>\d\d)(?:T|\s+at\s+|\s+)(?<h>\d\d):(?<mi>\d\d)(?::(?<s>\d\d)(?:\.\d+)?)?)"
              R"(\s*(?<zone>Z|UTC|GMT|[+-]\d\d:?\d\d)$)");
  Groups g(re.get(), text);
  if (!g.ok()) return std::nullopt;
  const auto zone = parse_zone(g["zone"]);
  if (!zone) return std::nullopt;
  const date::year_month_day ymd{date::year{g.number("y")}, date::month{static_cast<unsigned>(g.number("mo"))},
                                 date::day{static_cast<unsigned>(g.number("d"))}};
  const int h = g.number("h");
  const int mi = g.number("mi");
  const int s = g.number("s");
  if (!ymd.ok() || h > 23 || mi > 59 || s > 60) return std::nullopt;
  const LocalSeconds local{date::local_days{ymd}.time_since_epoch() + std::chrono::hours{h} + std::chrono::minutes{mi} +
                           Seconds{s}};
  return to_epoch(*zone, local);
}

std::optional<std::int64_t> parse_clock(std::string_view text, std::int64_t now_s) {
  static const Regex re =
      compile(R"(^(?:(?<mon>[a-z]{3})[a-z]*\.?\s+(?<day>\d{1,2})(?:st|nd|rd|th)?,?\s+(?:at\s+)?)?)"
              R"((?:(?<h>\d{1,2})(?::(?<mi>\d\d))?\s*(?<ampm>[ap])?\.?(?:m\.?)?|(?<word>midnight|noon)))"
              R"(\s*\(?\s*(?<zone>[^()\s]+)\s*\)?$)");
  Groups g(re.get(), text);
  if (!g.ok()) return std::nullopt;
  const auto zone = parse_zone(g["zone"]);
  if (!zone) return std::nullopt;
  int h = g.number("h");
  const int mi = g.number("mi");
  const std::string word = lower(g["word"]);
  const std::string ampm = lower(g["ampm"]);
  if (word == "midnight") h = 0;
  if (word == "noon") h = 12;
  if (!ampm.empty()) {
    if (h < 1 || h > 12) return std::nullopt;
    h = h % 12 + (ampm == "p" ? 12 : 0);
  }
  if (h > 23 || mi > 59) return std::nullopt;
  const auto time_of_day = std::chrono::hours{h} + std::chrono::minutes{mi};

  const LocalSeconds local_now = to_local(*zone, now_s);
  const date::local_days today = date::floor<date::days>(local_now);
  if (!g["mon"].empty()) {
    const auto month = month_number(g["mon"]);
    if (!month) return std::nullopt;
    const date::year_month_day now_ymd{today};
    for (int add = 0; add <= 1; ++add) {  // this year's date, else next year's
      const date::year_month_day ymd{now_ymd.year() + date::years{add}, date::month{static_cast<unsigned>(*month)},
                                     date::day{static_cast<unsigned>(g.number("day"))}};
      if (!ymd.ok()) return std::nullopt;
      const std::int64_t at = to_epoch(*zone, LocalSeconds{date::local_days{ymd}.time_since_epoch() + time_of_day});
      if (at > now_s) return at;
    }
    return std::nullopt;
  }
  for (int add = 0; add <= 2; ++add) {  // today, else the next day it comes round
    const std::int64_t at = to_epoch(*zone, LocalSeconds{(today + date::days{add}).time_since_epoch() + time_of_day});
    if (at > now_s) return at;
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> parse_duration_s(std::string_view text) {
  std::string_view s = trim(text);
  // Strip quotes a JSON capture may keep ("26s"), a leading "~", a trailing period.
  while (!s.empty() && (s.front() == '"' || s.front() == '\'' || s.front() == '~' || s.front() == ' ')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == '"' || s.back() == '\'' || s.back() == '.')) s.remove_suffix(1);
  if (s.empty()) return std::nullopt;
  double total = 0;
  bool any = false;
  while (!s.empty()) {
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double value = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + i, value);
    if (ec != std::errc{} || p != s.data() + i) return std::nullopt;
    s.remove_prefix(i);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    // unit: letters, or the bytes of a non-ASCII unit (µs, 秒)
    std::size_t j = 0;
    while (j < s.size() &&
           (std::isalpha(static_cast<unsigned char>(s[j])) || static_cast<unsigned char>(s[j]) >= 0x80)) {
      ++j;
    }
    auto factor = unit_seconds(s.substr(0, j));
    if (!factor) return std::nullopt;
    s.remove_prefix(j);
    std::size_t len = 0;
    while (is_separator(s, &len)) s.remove_prefix(len);
    total += value * *factor;
    any = true;
  }
  if (!any || !std::isfinite(total)) return std::nullopt;
  return total;
}

std::optional<std::int64_t> parse_reset_time(std::string_view text, std::int64_t now_s) {
  std::string_view t = trim(text);
  while (!t.empty() && (t.front() == '"' || t.front() == '\'')) t.remove_prefix(1);
  while (!t.empty() && (t.back() == '"' || t.back() == '\'' || t.back() == '.')) t.remove_suffix(1);
  if (t.empty() || t.size() > 80) return std::nullopt;
  std::optional<std::int64_t> at;
  if (auto v = parse_int(t)) {
    // 13 digits is epoch milliseconds (JavaScript clients); scale to seconds.
    at = *v >= kEpochSecondsLimit ? *v / 1000 : *v;
  } else if (std::isdigit(static_cast<unsigned char>(t.front())) && t.size() >= 16 && t[4] == '-') {
    at = parse_iso(t);
  } else {
    at = parse_clock(t, now_s);
  }
  if (!at || *at <= 0 || *at >= kEpochSecondsLimit) return std::nullopt;
  return at;
}

std::optional<FieldValue> convert_field(std::string_view name, std::string_view captured, std::int64_t now_s) {
  if (name == "resets_at") {
    auto v = parse_reset_time(captured, now_s);
    if (!v) return std::nullopt;
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

void write_fields(core::JsonWriter& w, const Fields& fields) {
  w.begin_object();
  for (const auto& f : fields) {
    w.key(f.name);
    std::visit([&](const auto& x) { w.value(x); }, f.value);
  }
  w.end_object();
}

const FieldValue* find_field(const Fields& fields, std::string_view name) {
  for (const Field& f : fields) {
    if (f.name == name) return &f.value;
  }
  return nullptr;
}

}  // namespace medic::match
