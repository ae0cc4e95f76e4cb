#include "match/rule_tester.h"

#include <gtest/gtest.h>

#include "match/test_rules.h"

namespace medic::match {
namespace {

TEST(RuleTesterTest, PassesExamplesThatBehave) {
  auto db = testing::compile_yaml(R"(
- id: t
  class: timeout
  pattern: 'timed out'
  extract: {http_status: '(\d{3})'}
  examples:
    match: [{text: 'HTTP 504 timed out', fields: {http_status: '504'}}]
    no_match: ['all good']
)");
  ASSERT_TRUE(db);
  auto m = Matcher::create(*db);
  const auto report = run_examples(*db, *m);
  EXPECT_EQ(report.passed, 2);
  EXPECT_TRUE(report.failures.empty());
}

TEST(RuleTesterTest, ReportsEachKindOfExampleFailure) {
  auto db = testing::compile_yaml(R"(
- id: weak
  class: rate_limit
  priority: 10
  pattern: '429'
  extract: {http_status: '(\d{3})'}
  examples:
    match:
      - 'no number here'
      - {text: 'got 429', fields: {http_status: '500'}}
      - 'credit 429'
    no_match: ['status 429']
- id: strong
  class: quota_exhausted
  priority: 90
  pattern: 'credit'
)");
  ASSERT_TRUE(db);
  auto m = Matcher::create(*db);
  const auto report = run_examples(*db, *m);
  EXPECT_EQ(report.passed, 0);
  ASSERT_EQ(report.failures.size(), 4u);
  EXPECT_NE(report.failures[0].message.find("does not match"), std::string::npos);
  EXPECT_NE(report.failures[1].message.find("is 429, expected 500"), std::string::npos);
  EXPECT_NE(report.failures[2].message.find("labelled quota_exhausted by rule 'strong'"), std::string::npos);
  EXPECT_NE(report.failures[3].message.find("must not"), std::string::npos);
  EXPECT_EQ(report.failures[0].where.line, 9);
}

}  // namespace
}  // namespace medic::match
