#include "match/pattern_db.h"

#include <gtest/gtest.h>

#include "match/test_rules.h"

namespace medic::match {
namespace {

using testing::compile_errors;

TEST(PatternDbTest, ReportsAPatternHyperscanRejectsAtItsLine) {
  const auto diags = compile_errors("- id: a\n  class: timeout\n  pattern: 'ab(?=c)'\n");
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].code, rules::DiagnosticCode::PatternRejected);
  EXPECT_EQ(diags[0].where.line, 3);
  EXPECT_NE(diags[0].message.find("rule 'a'"), std::string::npos);
}

TEST(PatternDbTest, ReportsAnExtractorPcre2RejectsAtItsLine) {
  const auto diags = compile_errors("- id: a\n  class: timeout\n  pattern: x\n  extract:\n    n: '(unclosed'\n");
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].code, rules::DiagnosticCode::ExtractorRejected);
  EXPECT_EQ(diags[0].where.line, 5);
  EXPECT_EQ(rules::format(diags[0]).rfind("test.yaml:5: rule 'a': extractor 'n'", 0), 0u);
}

TEST(PatternDbTest, ReportsEveryBadPatternNotJustTheFirst) {
  const auto diags = compile_errors(R"(- id: a
  class: timeout
  pattern: '(?<=x)y'
- id: b
  class: timeout
  pattern: 'fine'
- id: c
  class: timeout
  pattern: 'x{2,1}'
- id: d
  class: timeout
  pattern: 'a*'
)");
  ASSERT_EQ(diags.size(), 3u);
  EXPECT_EQ(diags[0].where.line, 3);
  EXPECT_EQ(diags[1].where.line, 9);
  EXPECT_EQ(diags[2].where.line, 12);
  EXPECT_NE(diags[2].message.find("empty string"), std::string::npos);
}

TEST(PatternDbTest, CompilesAStreamDatabaseWithSizes) {
  auto db = testing::compile_yaml("- id: a\n  class: timeout\n  pattern: 'timed out'\n");
  ASSERT_TRUE(db);
  EXPECT_GT(db->database_bytes(), 0u);
  EXPECT_GT(db->stream_state_bytes(), 0u);
}

}  // namespace
}  // namespace medic::match
