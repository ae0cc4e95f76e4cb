#include "match/field_value.h"

#include <gtest/gtest.h>

namespace medic::match {
namespace {

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

TEST(FieldValueTest, RejectsTextThatIsNotADuration) {
  EXPECT_FALSE(parse_duration_s(""));
  EXPECT_FALSE(parse_duration_s("soon"));
  EXPECT_FALSE(parse_duration_s("5 fortnights"));
  EXPECT_FALSE(parse_duration_s("3.2.1s"));
}

TEST(FieldValueTest, TypesFieldsByName) {
  EXPECT_EQ(*convert_field("resets_at", "1780861905"), FieldValue{std::int64_t{1780861905}});
  EXPECT_EQ(*convert_field("resets_at", "1780861905123"), FieldValue{std::int64_t{1780861905}});
  EXPECT_EQ(*convert_field("http_status", "429"), FieldValue{std::int64_t{429}});
  EXPECT_FALSE(convert_field("http_status", "42"));
  EXPECT_EQ(*convert_field("retry_after_s", "3.89s"), FieldValue{3.89});
  EXPECT_EQ(*convert_field("provider", " openai-codex "), FieldValue{std::string("openai-codex")});
  EXPECT_FALSE(convert_field("retry_after_s", "later"));
  EXPECT_EQ(*convert_field("rc", "-9"), FieldValue{std::int64_t{-9}});
}

}  // namespace
}  // namespace medic::match
