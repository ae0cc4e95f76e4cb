#include "rules/rule_reader.h"

#include <gtest/gtest.h>

namespace medic::rules {
namespace {

ReadResult read_one(std::string text, std::string path = "r.yaml") {
  std::vector<RuleSource> sources{{std::move(path), std::move(text)}};
  return read_rules(sources);
}

bool has(const ReadResult& r, DiagnosticCode code, int line, std::string_view needle) {
  for (const auto& d : r.diagnostics) {
    if (d.code == code && d.where.line == line && d.message.find(needle) != std::string::npos) {
      return true;
    }
  }
  return false;
}

std::string dump(const ReadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) s += format(d) + "\n";
  return s;
}

TEST(RuleReaderTest, ReadsEveryFieldOfARule) {
  const auto r = read_one(R"(
- id: codex-usage-limit
  class: rate_limit
  pattern: 'HTTP 429: The usage limit has been reached'
  flags: [caseless]
  priority: 80
  description: Codex plan window
  extract:
    resets_at: 'resets_at:\s*(\d{9,11})'
    retry_after_s: ['a (\d+)', 'b (\d+)']
  examples:
    match:
      - 'HTTP 429: The usage limit has been reached. resets_at: 1780861905'
      - text: 'HTTP 429: The usage limit has been reached'
        fields: {http_status: '429'}
    no_match: ['x-ratelimit-remaining-requests: 429']
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  ASSERT_EQ(r.rules.rules.size(), 1u);
  const Rule& rule = r.rules.rules[0];
  EXPECT_EQ(rule.id, "codex-usage-limit");
  EXPECT_EQ(rule.failure_class, FailureClass::RateLimit);
  EXPECT_TRUE(rule.caseless);
  EXPECT_EQ(rule.priority, 80);
  ASSERT_EQ(rule.extract.size(), 2u);
  EXPECT_EQ(rule.extract[1].field, "retry_after_s");
  EXPECT_EQ(rule.extract[1].patterns.size(), 2u);
  ASSERT_EQ(rule.match_examples.size(), 2u);
  EXPECT_EQ(rule.match_examples[1].fields.size(), 1u);
  EXPECT_EQ(rule.no_match_examples.size(), 1u);
  EXPECT_EQ(rule.where.line, 2);
  EXPECT_EQ(rule.pattern_where.line, 4);
}

TEST(RuleReaderTest, ReadsAContextRuleWithoutClass) {
  const auto r = read_one(R"(
- id: provider-line
  context: true
  pattern: 'Provider: '
  extract: {provider: 'Provider:\s+(\S+)'}
)");
  ASSERT_TRUE(r.ok()) << dump(r);
  EXPECT_TRUE(r.rules.rules[0].is_context());
}

TEST(RuleReaderTest, ReportsYamlErrorWithLine) {
  const auto r = read_one("- id: a\n  class: rate_limit\n  pattern: [unclosed\n");
  ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
  EXPECT_EQ(r.diagnostics[0].code, DiagnosticCode::YamlParse);
  EXPECT_GT(r.diagnostics[0].where.line, 0);
  EXPECT_EQ(format(r.diagnostics[0]).rfind("r.yaml:", 0), 0u);
}

TEST(RuleReaderTest, ReportsUnknownKeyWithLine) {
  const auto r = read_one("- id: a\n  class: rate_limit\n  pattern: x\n  severity: high\n");
  EXPECT_TRUE(has(r, DiagnosticCode::UnknownKey, 4, "unknown key 'severity'")) << dump(r);
}

TEST(RuleReaderTest, ReportsUnknownClassWithLine) {
  const auto r = read_one("- id: a\n  class: rate_limited\n  pattern: x\n");
  EXPECT_TRUE(has(r, DiagnosticCode::UnknownClass, 2, "unknown class 'rate_limited'")) << dump(r);
}

TEST(RuleReaderTest, ReportsDuplicateIdAcrossFilesWithBothPlaces) {
  std::vector<RuleSource> sources{{"a.yaml", "- id: same\n  class: timeout\n  pattern: x\n"},
                                  {"b.yaml", "\n- id: same\n  class: timeout\n  pattern: y\n"}};
  const auto r = read_rules(sources);
  ASSERT_EQ(r.diagnostics.size(), 1u) << dump(r);
  EXPECT_EQ(format(r.diagnostics[0]), "b.yaml:2: duplicate rule id 'same' (first defined at a.yaml:1)");
  EXPECT_EQ(r.rules.rules.size(), 1u);
}

TEST(RuleReaderTest, ReportsUnknownFlagAndBadPriority) {
  const auto r = read_one("- id: a\n  class: timeout\n  pattern: x\n  flags: [utf8]\n  priority: high\n");
  EXPECT_TRUE(has(r, DiagnosticCode::UnknownFlag, 4, "unknown flag 'utf8'")) << dump(r);
  EXPECT_TRUE(has(r, DiagnosticCode::BadValue, 5, "priority 'high'")) << dump(r);
}

TEST(RuleReaderTest, ReportsMissingPatternAndMissingClass) {
  const auto r = read_one("- id: a\n  class: timeout\n- id: b\n  pattern: x\n");
  EXPECT_TRUE(has(r, DiagnosticCode::MissingKey, 1, "has no 'pattern'")) << dump(r);
  EXPECT_TRUE(has(r, DiagnosticCode::MissingKey, 3, "has no 'class'")) << dump(r);
}

TEST(RuleReaderTest, CollectsEveryDiagnosticInsteadOfStoppingAtTheFirst) {
  const auto r = read_one(R"(- id: a
  class: nope
  pattern: x
- id: Bad Id
  class: timeout
  pattern: y
- id: c
  class: timeout
  pattern: z
  colour: red
- id: ok
  class: timeout
  pattern: fine
)");
  EXPECT_EQ(r.diagnostics.size(), 3u) << dump(r);
  ASSERT_EQ(r.rules.rules.size(), 1u);  // the good rule is kept
  EXPECT_EQ(r.rules.rules[0].id, "ok");
}

TEST(RuleReaderTest, RejectsAFileThatIsNotAList) {
  const auto r = read_one("id: a\nclass: timeout\n");
  EXPECT_TRUE(has(r, DiagnosticCode::BadShape, 1, "YAML list")) << dump(r);
}

TEST(RuleReaderTest, AcceptsAnEmptyFile) { EXPECT_TRUE(read_one("# only a comment\n").ok()); }

TEST(RuleReaderTest, ACountedRepeatOverTheLimitIsRefusedWithItsLine) {
  const auto r = read_one(R"(- id: slow
  class: timeout
  pattern: 'timed out.{0,30000}after'
)",
                          "slow.yaml");
  EXPECT_TRUE(has(r, DiagnosticCode::BadValue, 3, "a counted repeat of 30000 (the limit is 1000)")) << dump(r);
  EXPECT_TRUE(r.rules.rules.empty());
}

TEST(RuleReaderTest, LargestRepeatSkipsEscapesAndClasses) {
  EXPECT_EQ(largest_repeat("a{2,5}b{12}"), 12u);
  EXPECT_EQ(largest_repeat(R"(\{99999\})"), 0u);
  EXPECT_EQ(largest_repeat("[{5000}]x"), 0u);
  EXPECT_EQ(largest_repeat("x{3,}y{,4}z{a}"), 4u);  // {,n} counts too: refusing is the safe side
  EXPECT_EQ(largest_repeat("(?:ab){1001}"), 1001u);
}

}  // namespace
}  // namespace medic::rules
