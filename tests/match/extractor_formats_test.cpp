// Each extractor format family, expanded and compiled as the matcher does, captures the
// value a rule needs from the shapes real providers print.
#include "match/extractor_formats.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <gtest/gtest.h>
#include <pcre2.h>

#include <optional>
#include <string>

namespace medic::match {
namespace {

// The first capture of `pattern` (after expansion) in `line`, or nullopt.
std::optional<std::string> capture(const std::string& pattern, const std::string& line) {
  const std::string expanded = expand_extractor(pattern);
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(expanded.c_str()), expanded.size(), 0, &code, &offset, nullptr);
  EXPECT_NE(re, nullptr) << "PCRE2 rejects " << expanded << " at " << offset;
  if (re == nullptr) return std::nullopt;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  std::optional<std::string> out;
  if (pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(line.data()), line.size(), 0, 0, md, nullptr) > 1) {
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    out = line.substr(ov[2], ov[3] - ov[2]);
  }
  pcre2_match_data_free(md);
  pcre2_code_free(re);
  return out;
}

TEST(ExtractorFormatsTest, KeyValueFindsTheKeyInJsonPythonYamlHeadersAndKv) {
  const std::string p = "{kv:resets_at}({epoch})";
  EXPECT_EQ(capture(p, R"({"type":"usage_limit_reached","resets_at":1779987634})"), "1779987634");
  EXPECT_EQ(capture(p, "{'type': 'usage_limit_reached', 'resets_at': 1789063622, 'resets_in_seconds': 9108}"),
            "1789063622");
  EXPECT_EQ(capture(p, "resets_at: 1780861905"), "1780861905");
  EXPECT_EQ(capture(p, "plan_type=team resets_at=1780861905"), "1780861905");
  EXPECT_EQ(capture(p, R"(resets_at = "1780861905123")"), "1780861905123");
  EXPECT_EQ(capture("{kv:[\\w-]*reset-at}({epoch})", "x-codex-primary-reset-at: 1773860656"), "1773860656");
  EXPECT_EQ(capture("{kv:resets_in_seconds}(\\d+)", "{'resets_in_seconds': 9108}"), "9108");
}

TEST(ExtractorFormatsTest, DurationTakesEveryUnitWordAndCompoundForm) {
  const std::string p = "(?i)try again in ({duration})";
  EXPECT_EQ(capture(p, "or try again in 5 days 22 hours 11 minutes."), "5 days 22 hours 11 minutes");
  EXPECT_EQ(capture(p, "Please try again in 9m38.016s. Need more tokens?"), "9m38.016s");
  EXPECT_EQ(capture(p, "Please try again in 634ms. Visit"), "634ms");
  EXPECT_EQ(capture(p, "try again in 2 hours and 5 minutes, or upgrade"), "2 hours and 5 minutes");
  EXPECT_EQ(capture(p, "try again in 1h2m3.5s"), "1h2m3.5s");
  EXPECT_EQ(capture("{kv:retryDelay}({duration})", R"("retryDelay": "26s")"), "26s");
  EXPECT_EQ(capture("(?i)wait ({duration})", "Wait ~30s before retrying."), "~30s");
  EXPECT_EQ(capture("请\\s?({duration})\\s?后", "速率限制，请 117 秒后重试"), "117 秒");
  // A unit word must end there: "2 months" is not "2 m".
  EXPECT_EQ(capture(p, "try again in 2 months"), std::nullopt);
}

TEST(ExtractorFormatsTest, DatetimeTakesIso8601WithItsZone) {
  const std::string p = "{kv:quotaResetTimeStamp}({datetime})";
  EXPECT_EQ(capture(p, R"("quotaResetTimeStamp": "2025-09-25T02:30:44Z")"), "2025-09-25T02:30:44Z");
  EXPECT_EQ(capture("regain access on ({datetime})", "You will regain access on 2026-04-01 at 00:00 UTC."),
            "2026-04-01 at 00:00 UTC");
  EXPECT_EQ(capture(p, R"("quotaResetTimeStamp": "2025-09-25T02:30:44")"), std::nullopt);
}

TEST(ExtractorFormatsTest, ClockTakesATimeWithANamedZoneOrOffset) {
  const std::string p = "(?i)resets?(?: at)? ({clock})";
  EXPECT_EQ(capture(p, "You've hit your limit · resets 3:30am (Asia/Calcutta)"), "3:30am (Asia/Calcutta)");
  EXPECT_EQ(capture(p, "Your limit will reset at 3pm (America/Bogota)."), "3pm (America/Bogota)");
  EXPECT_EQ(capture(p, "limit reached ∙ resets Feb 7, 11am (Asia/Seoul)"), "Feb 7, 11am (Asia/Seoul)");
  EXPECT_EQ(capture(p, "resets at 12:00 UTC"), "12:00 UTC");
  EXPECT_EQ(capture(p, "Weekly limit reached ∙ resets Nov 13 at 9am"), std::nullopt);
}

TEST(ExtractorFormatsTest, LeavesQuantifiersAndEscapedBracesAlone) {
  EXPECT_EQ(expand_extractor("a{0,30}b"), "a{0,30}b");
  EXPECT_EQ(expand_extractor("\\{duration}"), "\\{duration}");
  EXPECT_EQ(expand_extractor("{unknown}"), "{unknown}");
}

}  // namespace
}  // namespace medic::match
