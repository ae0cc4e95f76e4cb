#include "match/extractor_formats.h"

#include <array>
#include <utility>

namespace medic::match {
namespace {

// Unit words, longest first so that "minutes" is not read as "m" + "inutes".
constexpr std::string_view kUnit =
    R"((?:milliseconds?|msecs?|ms|microseconds?|µs|us|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|秒(?:钟)?|分钟|小时|天))";  // bytes, not UTF mode: group multibyte units
constexpr std::string_view kNumber = R"(\d+(?:\.\d+)?)";

std::string duration() {
  const std::string one = std::string(kNumber) + R"(\s?)" + std::string(kUnit) + R"((?![a-zA-Z]))";
  return "(?:~\\s?)?" + one + R"((?:(?:\s|,\s?|\s?and\s)*)" + one + ")*";
}

constexpr std::string_view kZone =
    R"((?:[A-Z][A-Za-z_]+(?:/[A-Za-z_+-]+){1,2}|UTC|GMT|Z|[+-]\d\d:?\d\d|UTC[+-]\d{1,2}(?::?\d\d)?|Pacific|Eastern|Central|Mountain|PST|PDT|PT|EST|EDT|ET|CST|CDT|MST|MDT|CET|CEST|BST|IST|JST|KST))";

std::string datetime() {
  return R"(\d{4}-\d\d-\d\d(?:T|\s+at\s+|\s)\d\d:\d\d(?::\d\d(?:\.\d+)?)?\s?(?:Z|UTC|GMT|[+-]\d\d:?\d\d))";
}

std::string clock() {
  return R"((?:(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?\s\d{1,2}(?:st|nd|rd|th)?,?\s(?:at\s)?)?)"
         R"((?:\d{1,2}(?::\d\d)?\s?(?:[ap]\.?m\.?)?|midnight|noon)\s?\(?)" +
         std::string(kZone) + R"(\)?)";
}

}  // namespace

std::string expand_extractor(std::string_view pattern) {
  static const std::array<std::pair<std::string_view, std::string>, 4> kFamilies{{
      {"{duration}", duration()},
      {"{epoch}", R"(\d{9,13}(?!\d))"},
      {"{datetime}", datetime()},
      {"{clock}", clock()},
  }};
  std::string out;
  out.reserve(pattern.size());
  std::size_t i = 0;
  while (i < pattern.size()) {
    if (pattern[i] == '\\' && i + 1 < pattern.size()) {  // an escaped brace stays literal
      out.append(pattern.substr(i, 2));
      i += 2;
      continue;
    }
    if (pattern[i] != '{') {
      out.push_back(pattern[i++]);
      continue;
    }
    bool expanded = false;
    for (const auto& [name, regex] : kFamilies) {
      if (pattern.substr(i, name.size()) == name) {
        out += regex;
        i += name.size();
        expanded = true;
        break;
      }
    }
    if (expanded) continue;
    if (pattern.substr(i, 4) == "{kv:") {
      const std::size_t end = pattern.find('}', i);
      if (end != std::string_view::npos) {
        const std::string_view key = pattern.substr(i + 4, end - i - 4);
        out += R"(["']?(?:)" + std::string(key) + R"()["']?\s*[:=]\s*["']?)";
        i = end + 1;
        continue;
      }
    }
    out.push_back(pattern[i++]);
  }
  return out;
}

}  // namespace medic::match
