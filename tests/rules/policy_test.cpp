#include "rules/policy.h"

#include <gtest/gtest.h>

namespace medic::rules {
namespace {

TEST(PolicyTest, DefaultsFollowTheDesignTable) {
  const Policy p = Policy::defaults();
  EXPECT_EQ(p.for_class(FailureClass::RateLimit).action, Action::RetryAt);
  EXPECT_EQ(p.for_class(FailureClass::AuthMissing).action, Action::RepairAuth);
  EXPECT_EQ(p.for_class(FailureClass::AuthRegion).action, Action::Block);
  EXPECT_EQ(p.for_class(FailureClass::AuthAuxiliary).action, Action::Ignore);
  EXPECT_EQ(p.for_class(FailureClass::EnvMissing).action, Action::RepairEnv);
  EXPECT_EQ(p.for_class(FailureClass::Connection).max_attempts, 2);
  EXPECT_EQ(p.rate_limit_default_delay_s, 300);
}

TEST(PolicyTest, ReadsOverridesAndFallbackChains) {
  Diagnostics diags;
  const Policy p = read_policy(R"(
timeout: {action: retry, max_attempts: 5, backoff: {base_s: 10, factor: 3, cap_s: 60, jitter: 0}}
rate_limit_default_delay_s: 120
fallback_providers:
  openai-codex: [xai, anthropic]
)",
                               "medic.yaml", diags);
  EXPECT_TRUE(diags.empty());
  EXPECT_EQ(p.for_class(FailureClass::Timeout).max_attempts, 5);
  EXPECT_EQ(p.for_class(FailureClass::Timeout).backoff.base_s, 10);
  EXPECT_EQ(p.rate_limit_default_delay_s, 120);
  // The older list form is still read (no model named).
  EXPECT_EQ(p.fallback_providers.at("openai-codex"), (std::vector<Fallback>{{"xai", ""}, {"anthropic", ""}}));
}

TEST(PolicyTest, ReportsBadKeysAndValuesWithLines) {
  Diagnostics diags;
  const Policy p =
      read_policy("timeout: {action: explode}\nretries: 3\nconnection: {max_attempts: -1}\n", "medic.yaml", diags);
  ASSERT_EQ(diags.size(), 3u);
  EXPECT_EQ(format(diags[0]), "medic.yaml:1: unknown action 'explode'");
  EXPECT_EQ(diags[1].where.line, 2);
  EXPECT_EQ(diags[2].where.line, 3);
  EXPECT_EQ(p.for_class(FailureClass::Timeout).action, Action::Retry);  // default kept
}

TEST(PolicyTest, AFallbackNamesTheModelToRunOnItsProvider) {
  Diagnostics diags;
  const Policy p = read_policy(R"(
fallback_providers:
  openai-codex: [{provider: xai, model: grok-4.3}, anthropic]
  anthropic: {provider: openrouter, model: anthropic/claude-sonnet-4, tier: x}
)",
                               "medic.yaml", diags);
  EXPECT_EQ(p.fallback_providers.at("openai-codex"), (std::vector<Fallback>{{"xai", "grok-4.3"}, {"anthropic", ""}}));
  EXPECT_EQ(p.fallback_providers.at("anthropic"), (std::vector<Fallback>{{"openrouter", "anthropic/claude-sonnet-4"}}));
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_NE(diags[0].message.find("unknown fallback key 'tier'"), std::string::npos) << diags[0].message;
  EXPECT_EQ(diags[0].where.line, 4u);
}

}  // namespace
}  // namespace medic::rules
