#include "rules/pattern_export.h"

#include <gtest/gtest.h>

namespace medic::rules {
namespace {

Rule rule(std::string pattern, bool caseless = false) {
  Rule r;
  r.id = "r";
  r.pattern = std::move(pattern);
  r.caseless = caseless;
  return r;
}

TEST(PatternExportTest, WrapsRgPatternsInByteModeGroups) {
  EXPECT_EQ(*export_pattern(rule("HTTP 429\\b"), ExportFormat::Rg), "(?-u:HTTP 429\\b)");
  EXPECT_EQ(*export_pattern(rule("timed out", true), ExportFormat::Rg), "(?i-u:timed out)");
}

TEST(PatternExportTest, WritesNonAsciiAsBytesForRg) {
  EXPECT_EQ(*export_pattern(rule("余额 ok"), ExportFormat::Rg), "(?-u:\\xE4\\xBD\\x99\\xE9\\xA2\\x9D ok)");
}

TEST(PatternExportTest, TranslatesPcreToGrepEre) {
  EXPECT_EQ(*export_pattern(rule("resets_at:\\s*(?:\\d{9,11})"), ExportFormat::GrepEre),
            "resets_at:[[:space:]]*([0-9]{9,11})");
  EXPECT_EQ(*export_pattern(rule("Unknown skill\\(s\\):"), ExportFormat::GrepEre), "Unknown skill\\(s\\):");
  EXPECT_EQ(*export_pattern(rule("a\\-b\\:c"), ExportFormat::GrepEre), "a-b:c");
}

TEST(PatternExportTest, WritesNotNewlineAsDotForGrep) {
  EXPECT_EQ(*export_pattern(rule("a[^\\n]{0,40}b"), ExportFormat::GrepEre), "a.{0,40}b");
}

TEST(PatternExportTest, KeepsAnEscapedBracketInsideAClassForGrep) {
  EXPECT_EQ(*export_pattern(rule("(^|[ (\\[])429"), ExportFormat::GrepEre), "(^|[ ([])429");
}

TEST(PatternExportTest, DropsNewlineFromANegatedClassForGrep) {
  EXPECT_EQ(*export_pattern(rule("model '[^'\\n]{1,80}'"), ExportFormat::GrepEre), "model '[^']{1,80}'");
}

TEST(PatternExportTest, SpellsBothCasesForCaselessGrep) {
  EXPECT_EQ(*export_pattern(rule("Hi[a-c]!", true), ExportFormat::GrepEre), "[hH][iI][a-cA-C]!");
}

TEST(PatternExportTest, RefusesSyntaxGrepCannotExpress) {
  EXPECT_FALSE(export_pattern(rule("a(?=b)"), ExportFormat::GrepEre));
  EXPECT_FALSE(export_pattern(rule("\\x41"), ExportFormat::GrepEre));
}

}  // namespace
}  // namespace medic::rules
