// `medic rules check|test|export|profile` on real directories.
#include <gtest/gtest.h>

#include "integration/process.h"

namespace medic {
namespace {

using testing::run_process;
using testing::TempDir;

TEST(RulesCliTest, CheckPassesOnTheShippedRules) {
  const auto res = run_process({MEDIC_BINARY, "rules", "check", MEDIC_RULES_DIR});
  EXPECT_EQ(res.exit_code, 0) << res.out;
  EXPECT_NE(res.out.find("rules OK"), std::string::npos);
}

TEST(RulesCliTest, CheckPrintsEveryProblemAsFileLineMessage) {
  TempDir dir;
  dir.file("r/a.yaml", "- id: one\n  class: rate_limit\n  pattern: '(?<=x)y'\n");
  dir.file("r/b.yaml",
           "- id: two\n  class: timeout\n  pattern: ok\n  extract: {n: '(bad'}\n- id: one\n  class: timeout\n  "
           "pattern: z\n");
  const auto res = run_process({MEDIC_BINARY, "rules", "check", dir.path() + "/r"});
  EXPECT_EQ(res.exit_code, 1);
  const std::string a = dir.path() + "/r/a.yaml:3: rule 'one': Hyperscan rejects the pattern";
  const std::string b1 = dir.path() + "/r/b.yaml:4: rule 'two': extractor 'n': PCRE2 rejects it";
  const std::string b2 = dir.path() + "/r/b.yaml:5: duplicate rule id 'one'";
  EXPECT_NE(res.out.find(a), std::string::npos) << res.out;
  EXPECT_NE(res.out.find(b1), std::string::npos) << res.out;
  EXPECT_NE(res.out.find(b2), std::string::npos) << res.out;
}

TEST(RulesCliTest, CheckFailsOnAMissingDirectory) {
  const auto res = run_process({MEDIC_BINARY, "rules", "check", "/nonexistent/rules"});
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_NE(res.out.find("/nonexistent/rules: not a readable rules directory"), std::string::npos);
}

TEST(RulesCliTest, TestPassesEveryShippedExample) {
  const auto res = run_process({MEDIC_BINARY, "rules", "test", MEDIC_RULES_DIR});
  EXPECT_EQ(res.exit_code, 0) << res.out;
  EXPECT_NE(res.out.find(" passed, 0 failed"), std::string::npos) << res.out;
}

TEST(RulesCliTest, TestReportsFailuresAndTheClosingCount) {
  TempDir dir;
  dir.file("r/a.yaml", R"(- id: t
  class: timeout
  pattern: 'timed out'
  examples:
    match: ['timed out', 'connection refused']
    no_match: ['fine', 'it timed out']
)");
  const auto res = run_process({MEDIC_BINARY, "rules", "test", dir.path() + "/r"});
  EXPECT_EQ(res.exit_code, 1);
  EXPECT_NE(res.out.find("a.yaml:5: rule 't': does not match: connection refused"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("a.yaml:6: rule 't': matches but must not: it timed out"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("\n2 passed, 2 failed\n"), std::string::npos) << res.out;
}

TEST(RulesCliTest, ExportWritesOnePatternPerRuleForRgAndGrep) {
  const auto check = run_process({MEDIC_BINARY, "rules", "check", MEDIC_RULES_DIR});
  for (const char* format : {"rg", "grep"}) {
    const auto res = run_process({MEDIC_BINARY, "rules", "export", MEDIC_RULES_DIR, "--format", format});
    EXPECT_EQ(res.exit_code, 0) << format << ": " << res.err;
    const auto n = std::count(res.out.begin(), res.out.end(), '\n');
    EXPECT_NE(check.out.find(" " + std::to_string(n) + " rules OK"), std::string::npos)
        << format << " exported " << n << " patterns; check said: " << check.out;
  }
}

// Profile: each rule's hits and the lines it decides (the higher priority wins a line two
// rules hit), its cost and throughput alone, rows ordered by cost, then the whole set.
TEST(RulesCliTest, ProfileCountsEachRulesHitsAndDecidedLines) {
  TempDir dir;
  dir.file("r/a.yaml", R"(- id: limit
  class: rate_limit
  priority: 90
  pattern: 'rate limit'
- id: status-429
  class: rate_limit
  priority: 30
  pattern: '\b429\b'
- id: never
  class: timeout
  pattern: 'zzzz-never'
)");
  std::string log;
  for (int i = 0; i < 50; ++i) log += "429 rate limit reached\nHTTP 429\nall fine here\n";
  const auto path = dir.file("sample.log", log);
  const auto res = run_process({MEDIC_BINARY, "rules", "profile", dir.path() + "/r", path, "--rounds", "1"});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  auto row = [&](const std::string& id) {
    const auto at = res.out.find("\n" + id + " ");
    return at == std::string::npos ? std::string() : res.out.substr(at + 1, res.out.find('\n', at + 1) - at - 1);
  };
  // hits, then decides: 'limit' decides the 50 lines both rules hit; '429' the 50 others.
  EXPECT_NE(row("limit").find(" 50        50 "), std::string::npos) << res.out;
  EXPECT_NE(row("status-429").find(" 100        50 "), std::string::npos) << res.out;
  EXPECT_NE(row("never").find(" 0         0 "), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("all 3 rules: "), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("100 lines with a failure hit"), std::string::npos) << res.out;
}

TEST(RulesCliTest, ProfileRefusesAFileItCannotRead) {
  const auto res = run_process({MEDIC_BINARY, "rules", "profile", MEDIC_RULES_DIR, "/nonexistent/x.log"});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.err.find("/nonexistent/x.log: cannot be read"), std::string::npos) << res.err;
}

}  // namespace
}  // namespace medic
