#include "match/field_value.h"

#include <gtest/gtest.h>

namespace medic::match {
namespace {

// 2026-12-02T09:54:00Z, a Wednesday: the "now" every clock time below resolves against.
constexpr std::int64_t kNow = 1796205240;

TEST(FieldValueTest, ParsesEveryProviderDurationFormat) {
  EXPECT_DOUBLE_EQ(*parse_duration_s("9.816s"), 9.816);
  EXPECT_DOUBLE_EQ(*parse_duration_s("174ms"), 0.174);
  EXPECT_DOUBLE_EQ(*parse_duration_s("7m12s"), 432);
  EXPECT_DOUBLE_EQ(*parse_duration_s("4h28m20s"), 16100);
  EXPECT_DOUBLE_EQ(*parse_duration_s("86400 seconds"), 86400);
  EXPECT_DOUBLE_EQ(*parse_duration_s("\"26s\""), 26);
  EXPECT_DOUBLE_EQ(*parse_duration_s("2 minutes"), 120);
  EXPECT_DOUBLE_EQ(*parse_duration_s("8464"), 8464);
  EXPECT_DOUBLE_EQ(*parse_duration_s("5s."), 5);
  EXPECT_DOUBLE_EQ(*parse_duration_s("1 day"), 86400);
}

TEST(FieldValueTest, ParsesCompoundDurationsInWordsAndAbbreviations) {
  EXPECT_DOUBLE_EQ(*parse_duration_s("3 days 4 hours 5 minutes"), 3 * 86400 + 4 * 3600 + 5 * 60);
  EXPECT_DOUBLE_EQ(*parse_duration_s("5 days 22 hours 11 minutes"), 511860);
  EXPECT_DOUBLE_EQ(*parse_duration_s("3h 47m"), 13620);
  EXPECT_DOUBLE_EQ(*parse_duration_s("8 hours 24 minutes"), 30240);
  EXPECT_DOUBLE_EQ(*parse_duration_s("2 hours and 5 minutes"), 7500);
  EXPECT_DOUBLE_EQ(*parse_duration_s("1 hr, 2 mins, 3 secs"), 3723);
  EXPECT_DOUBLE_EQ(*parse_duration_s("1 week"), 604800);
}

TEST(FieldValueTest, ParsesGoStyleFractionalAndMillisecondDurations) {
  EXPECT_DOUBLE_EQ(*parse_duration_s("1h2m3.5s"), 3723.5);
  EXPECT_DOUBLE_EQ(*parse_duration_s("9m38.016s"), 578.016);
  EXPECT_DOUBLE_EQ(*parse_duration_s("30m0s"), 1800);
  EXPECT_DOUBLE_EQ(*parse_duration_s("30.638054576s"), 30.638054576);
  EXPECT_DOUBLE_EQ(*parse_duration_s("634ms"), 0.634);
  EXPECT_DOUBLE_EQ(*parse_duration_s("5119 milliseconds"), 5.119);
  EXPECT_DOUBLE_EQ(*parse_duration_s("~30s"), 30);
}

TEST(FieldValueTest, ParsesDurationsInChinese) {
  EXPECT_DOUBLE_EQ(*parse_duration_s("117 秒"), 117);
  EXPECT_DOUBLE_EQ(*parse_duration_s("5分钟"), 300);
}

TEST(FieldValueTest, RejectsTextThatIsNotADuration) {
  EXPECT_FALSE(parse_duration_s(""));
  EXPECT_FALSE(parse_duration_s("soon"));
  EXPECT_FALSE(parse_duration_s("5 fortnights"));
  EXPECT_FALSE(parse_duration_s("3.2.1s"));
  EXPECT_FALSE(parse_duration_s("1" + std::string(400, '0') + "d"));
}

TEST(FieldValueTest, ReadsEpochSecondsAndMilliseconds) {
  EXPECT_EQ(parse_reset_time("1780861905", kNow), 1780861905);
  EXPECT_EQ(parse_reset_time("1780861905123", kNow), 1780861905);
  EXPECT_EQ(parse_reset_time("'1789063622'", kNow), 1789063622);
  EXPECT_FALSE(parse_reset_time("178632782096663", kNow));  // past year 5138 even as ms
  EXPECT_FALSE(parse_reset_time("0", kNow));
}

TEST(FieldValueTest, ReadsIso8601InstantsWithTheirZone) {
  EXPECT_EQ(parse_reset_time("2026-04-01T00:00:00Z", kNow), 1775001600);
  EXPECT_EQ(parse_reset_time("\"2025-09-25T02:30:44.123Z\"", kNow), 1758767444);
  EXPECT_EQ(parse_reset_time("2026-04-01T02:00:00+02:00", kNow), 1775001600);
  EXPECT_EQ(parse_reset_time("2026-04-01 at 00:00 UTC", kNow), 1775001600);
  EXPECT_EQ(parse_reset_time("2026-04-01 05:30 +0530", kNow), 1775001600);
  EXPECT_FALSE(parse_reset_time("2026-04-01T00:00:00", kNow));  // no zone: ambiguous
  EXPECT_FALSE(parse_reset_time("2026-02-30T00:00:00Z", kNow));
}

TEST(FieldValueTest, ResolvesAClockTimeWithAZoneToTheNextSuchInstant) {
  // 09:54 UTC now: 12:00 UTC is later today, 3:30am in Kolkata (22:00 UTC) is tonight.
  EXPECT_EQ(parse_reset_time("12:00 UTC", kNow), 1796212800);
  EXPECT_EQ(parse_reset_time("3:30am (Asia/Calcutta)", kNow), 1796248800);
  // 3pm in Bogota (UTC-5) is 20:00 UTC today.
  EXPECT_EQ(parse_reset_time("3pm (America/Bogota)", kNow), 1796241600);
  // 9am UTC has passed today: tomorrow's.
  EXPECT_EQ(parse_reset_time("9am UTC", kNow), 1796288400);
  EXPECT_EQ(parse_reset_time("09:00 +05:30", kNow), 1796268600);
  // Midnight Pacific (PST, UTC-8) is 08:00 UTC on the 3rd.
  EXPECT_EQ(parse_reset_time("midnight Pacific", kNow), 1796284800);
}

TEST(FieldValueTest, ResolvesAMonthDayAndClockToThisYearOrTheNext) {
  // Dec 7, 11am in Seoul (UTC+9) is 02:00 UTC that day.
  EXPECT_EQ(parse_reset_time("Dec 7, 11am (Asia/Seoul)", kNow), 1796608800);
  // Feb 7 has passed this year: next year's.
  EXPECT_EQ(parse_reset_time("Feb 7, 11am (Asia/Seoul)", kNow), 1801965600);
}

TEST(FieldValueTest, RefusesClockTimesWithoutAKnownZone) {
  EXPECT_FALSE(parse_reset_time("3:30am", kNow));
  EXPECT_FALSE(parse_reset_time("Oct 31, 9am", kNow));
  EXPECT_FALSE(parse_reset_time("3pm (Mars/Olympus_Mons)", kNow));
  EXPECT_FALSE(parse_reset_time("13pm UTC", kNow));
  EXPECT_FALSE(parse_reset_time("soon", kNow));
}

TEST(FieldValueTest, TypesFieldsByName) {
  EXPECT_EQ(*convert_field("resets_at", "1780861905", kNow), FieldValue{std::int64_t{1780861905}});
  EXPECT_EQ(*convert_field("resets_at", "1780861905123", kNow), FieldValue{std::int64_t{1780861905}});
  EXPECT_EQ(*convert_field("http_status", "429", kNow), FieldValue{std::int64_t{429}});
  EXPECT_FALSE(convert_field("http_status", "42", kNow));
  EXPECT_EQ(*convert_field("retry_after_s", "3.89s", kNow), FieldValue{3.89});
  EXPECT_EQ(*convert_field("provider", " openai-codex ", kNow), FieldValue{std::string("openai-codex")});
  EXPECT_FALSE(convert_field("retry_after_s", "later", kNow));
  EXPECT_EQ(*convert_field("rc", "-9", kNow), FieldValue{std::int64_t{-9}});
}

}  // namespace
}  // namespace medic::match
