#include "decide/engine.h"

#include <gtest/gtest.h>

namespace medic::decide {
namespace {

using rules::Action;
using rules::FailureClass;

constexpr core::EpochSeconds kNow = 1780850000;

Evidence hit(FailureClass c, std::string rule, int priority, match::Fields fields = {}) {
  Evidence e;
  e.failure_class = c;
  e.rule = std::move(rule);
  e.priority = priority;
  e.path = "/h/kanban/logs/t_1.log";
  e.line = 7;
  e.text = "some line";
  e.fields = std::move(fields);
  return e;
}

RunFacts run(int rc, std::vector<Evidence> evidence = {}, std::string provider = "openai-codex") {
  RunFacts f;
  f.task_id = "t_1";
  f.run_id = 4;
  f.exit.rc = rc;
  f.exit.at = kNow;
  f.evidence = std::move(evidence);
  f.provider = std::move(provider);
  return f;
}

class EngineTest : public ::testing::Test {
 protected:
  Outcome decide_run(const RunFacts& f) { return decide(f, policy_, state_, kNow); }
  rules::Policy policy_ = rules::Policy::defaults();
  EngineState state_;
};

TEST_F(EngineTest, RateLimitWithResetsAtRetriesAtTheResetAndMarksTheProviderUnhealthy) {
  const auto out = decide_run(run(
      0, {hit(FailureClass::RateLimit, "codex-usage-limit-reached", 80, {{"resets_at", std::int64_t{1780861905}}})}));
  EXPECT_EQ(out.decision.action, Action::RetryAt);
  EXPECT_EQ(out.decision.retry_at, 1780861905);
  EXPECT_EQ(out.decision.failure_class, FailureClass::RateLimit);
  EXPECT_EQ(out.decision.id, "default/t_1/4");
  ASSERT_EQ(out.health.size(), 1u);
  EXPECT_EQ(out.health[0].provider, "openai-codex");
  EXPECT_EQ(out.health[0].unhealthy_until, 1780861905);
  EXPECT_EQ(state_.unhealthy_until["openai-codex"], 1780861905);
}

TEST_F(EngineTest, RateLimitTakesTheResetTimeFromAnyHitOfTheClass) {
  const auto out = decide_run(run(
      0, {hit(FailureClass::RateLimit, "rate-limit-error-code", 80),
          hit(FailureClass::RateLimit, "codex-usage-limit-reached", 80, {{"resets_at", std::int64_t{1780861905}}})}));
  EXPECT_EQ(out.decision.evidence->rule, "rate-limit-error-code");
  EXPECT_EQ(out.decision.retry_at, 1780861905);
}

TEST_F(EngineTest, RateLimitWithoutResetWaitsRetryAfterOrTheDefault) {
  auto out = decide_run(run(1, {hit(FailureClass::RateLimit, "r", 65, {{"retry_after_s", 3.89}})}));
  EXPECT_EQ(out.decision.retry_at, kNow + 4);
  RunFacts f = run(1, {hit(FailureClass::RateLimit, "r", 65)});
  f.task_id = "t_2";
  out = decide_run(f);
  EXPECT_EQ(out.decision.retry_at, kNow + 300);
}

TEST_F(EngineTest, RateLimitWhoseResetHasPassedRetriesNowAndLeavesTheProviderHealthy) {
  const auto out = decide_run(run(0, {hit(FailureClass::RateLimit, "r", 80, {{"resets_at", kNow - 60}})}));
  EXPECT_EQ(out.decision.action, Action::RetryAt);
  EXPECT_EQ(out.decision.retry_at, kNow);
  EXPECT_TRUE(out.health.empty());
  EXPECT_NE(out.decision.reason.find("has passed"), std::string::npos);
}

TEST_F(EngineTest, RateLimitMovesToAHealthyFallbackProvider) {
  policy_.fallback_providers["openai-codex"] = {{"xai", "grok-4.3"}};
  const auto out =
      decide_run(run(0, {hit(FailureClass::RateLimit, "r", 80, {{"resets_at", std::int64_t{1780861905}}})}));
  EXPECT_EQ(out.decision.action, Action::RetryAt);
  EXPECT_EQ(out.decision.use_provider, "xai");
  EXPECT_EQ(out.decision.retry_at, kNow);
}

TEST_F(EngineTest, ASecondTaskOnAnUnhealthyProviderMovesToTheFallback) {
  policy_.fallback_providers["openai-codex"] = {{"xai", "grok-4.3"}};
  state_.unhealthy_until["openai-codex"] = kNow + 600;
  RunFacts f = run(1, {hit(FailureClass::Connection, "connection-failed", 55)});
  f.task_id = "t_2";
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Retry);
  EXPECT_EQ(out.decision.use_provider, "xai");
}

TEST_F(EngineTest, RetryOnAnUnhealthyProviderWithoutFallbackWaitsForItsReset) {
  state_.unhealthy_until["openai-codex"] = kNow + 6000;
  const auto out = decide_run(run(1, {hit(FailureClass::Timeout, "request-timed-out", 60)}));
  EXPECT_EQ(out.decision.action, Action::Retry);
  EXPECT_EQ(out.decision.retry_at, kNow + 6000);
  EXPECT_NE(out.decision.reason.find("healthy again"), std::string::npos) << out.decision.reason;
}

TEST_F(EngineTest, RateLimitsThatRunOutOfAttemptsBlockWithTheReason) {
  policy_.classes[FailureClass::RateLimit].max_attempts = 2;
  const auto f = run(0, {hit(FailureClass::RateLimit, "r", 80)});
  EXPECT_EQ(decide_run(f).decision.action, Action::RetryAt);
  EXPECT_EQ(decide_run(f).decision.action, Action::RetryAt);
  const auto third = decide_run(f);
  EXPECT_EQ(third.decision.action, Action::Block);
  EXPECT_EQ(third.decision.attempt, 3);
  EXPECT_NE(third.decision.reason.find("attempt 3, max 2"), std::string::npos);
}

TEST_F(EngineTest, QuotaExhaustedBlocksAsCapabilityWithoutAFallback) {
  const auto out = decide_run(run(1, {hit(FailureClass::QuotaExhausted, "insufficient-quota", 85)}));
  EXPECT_EQ(out.decision.action, Action::Block);
  EXPECT_NE(out.decision.next_command.find("--kind capability"), std::string::npos);
  EXPECT_TRUE(out.health.empty());
}

TEST_F(EngineTest, QuotaExhaustedUsesAHealthyFallbackAndNeverTheSameProvider) {
  policy_.fallback_providers["openai-codex"] = {{"openai-codex", ""}, {"anthropic", "claude-sonnet-4"}};
  const auto out = decide_run(run(1, {hit(FailureClass::QuotaExhausted, "insufficient-quota", 85)}));
  EXPECT_EQ(out.decision.action, Action::Retry);
  EXPECT_EQ(out.decision.use_provider, "anthropic");
}

TEST_F(EngineTest, TransportFailuresRetryWithGrowingBackoffThenBlock) {
  const auto f = run(1, {hit(FailureClass::Connection, "connection-failed", 55)});
  const auto first = decide_run(f);
  const auto second = decide_run(f);
  const auto third = decide_run(f);
  EXPECT_EQ(first.decision.action, Action::Retry);
  EXPECT_EQ(second.decision.action, Action::Retry);
  EXPECT_GT(*second.decision.backoff_s, *first.decision.backoff_s);
  EXPECT_NEAR(*first.decision.backoff_s, 30, 3);  // base 30 s, jitter 10 %
  EXPECT_EQ(third.decision.action, Action::Block);
}

TEST_F(EngineTest, OverloadAndTimeoutRetry) {
  EXPECT_EQ(decide_run(run(1, {hit(FailureClass::Overloaded, "o", 75)})).decision.action, Action::Retry);
  RunFacts f = run(1, {hit(FailureClass::Timeout, "t", 60)});
  f.task_id = "t_9";
  EXPECT_EQ(decide_run(f).decision.action, Action::Retry);
}

TEST_F(EngineTest, AuthMissingRepairsAuthEvenWhenTheWorkerExitedZero) {
  const auto out = decide_run(run(0, {hit(FailureClass::AuthMissing, "bearer-none", 95)}));
  EXPECT_EQ(out.decision.action, Action::RepairAuth);
  EXPECT_EQ(out.decision.failure_class, FailureClass::AuthMissing);
  // It carries the preflight's steps, in order, ending with the retry.
  ASSERT_EQ(out.decision.steps.size(), 5u);
  EXPECT_NE(out.decision.steps[0].find("codex login status"), std::string::npos);
  EXPECT_NE(out.decision.steps[1].find("ln -s ~/.codex/auth.json"), std::string::npos);
  EXPECT_EQ(out.decision.steps[4], "then retry the task: hermes kanban unblock t_1");
  EXPECT_NE(out.decision.next_command.find("medic preflight"), std::string::npos);
}

TEST_F(EngineTest, AuthExpiredRepairsThenBlocksWithReloginWhenItComesBack) {
  const auto f = run(1, {hit(FailureClass::AuthExpired, "credential-rejected", 75)});
  EXPECT_EQ(decide_run(f).decision.action, Action::RepairAuth);
  const auto again = decide_run(f);
  EXPECT_EQ(again.decision.action, Action::Block);
  EXPECT_NE(again.decision.reason.find("re-login to Codex"), std::string::npos);
}

TEST_F(EngineTest, AuthRegionBlocksNamingTheResidencyHeader) {
  const auto out = decide_run(run(78, {hit(FailureClass::AuthRegion, "region-blocked", 85)}));
  EXPECT_EQ(out.decision.action, Action::Block);
  EXPECT_NE(out.decision.reason.find("x-openai-internal-codex-residency"), std::string::npos);
}

TEST_F(EngineTest, AuxiliaryAuthFailureIsIgnoredForTheTask) {
  const auto out = decide_run(run(0, {hit(FailureClass::AuthAuxiliary, "auxiliary-call-401", 92)}));
  EXPECT_EQ(out.decision.action, Action::Ignore);
}

TEST_F(EngineTest, AuxiliaryAuthFailureDoesNotHideARealFailure) {
  const auto out = decide_run(
      run(1, {hit(FailureClass::AuthAuxiliary, "aux", 92), hit(FailureClass::Timeout, "request-timed-out", 60)}));
  EXPECT_EQ(out.decision.failure_class, FailureClass::Timeout);
}

TEST_F(EngineTest, ContextLengthBlocksForInputOrUsesTheConfiguredModel) {
  EXPECT_EQ(decide_run(run(1, {hit(FailureClass::ContextLength, "c", 80)})).decision.action, Action::Block);
  policy_.context_length_model = "anthropic/claude-sonnet-1m";
  RunFacts f = run(1, {hit(FailureClass::ContextLength, "c", 80)});
  f.task_id = "t_3";
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Retry);
  EXPECT_EQ(out.decision.use_provider, "anthropic");  // "provider/model"
  EXPECT_EQ(out.decision.use_model, "claude-sonnet-1m");
}

TEST_F(EngineTest, MissingSkillRepairsTheEnvironmentWithKanbanInit) {
  const auto out = decide_run(
      run(1, {hit(FailureClass::EnvMissing, "unknown-skill", 85, {{"skill", std::string("kanban-worker")}})}));
  EXPECT_EQ(out.decision.action, Action::RepairEnv);
  EXPECT_EQ(out.decision.next_command, "hermes kanban init");
  EXPECT_NE(out.decision.reason.find("kanban-worker"), std::string::npos);
}

TEST_F(EngineTest, CleanExitWithoutAWorkspaceIsAProtocolViolationBlock) {
  const auto out = decide_run(run(0));
  EXPECT_EQ(out.decision.failure_class, FailureClass::ProtocolViolation);
  EXPECT_EQ(out.decision.action, Action::Block);
  EXPECT_NE(out.decision.reason.find("could not be checked"), std::string::npos);
}

ArtifactFacts artifacts(bool evidence, bool outputs, bool state, std::vector<std::string> missing = {}) {
  ArtifactFacts a;
  a.ran = true;
  a.evidence = evidence;
  a.outputs = outputs;
  a.state = state;
  a.checked = {"ok: evidence raw/search.json (812 bytes)"};
  a.missing = std::move(missing);
  return a;
}

TEST_F(EngineTest, ProtocolViolationWithPassingArtifactsCompletes) {
  RunFacts f = run(0);
  f.artifacts = artifacts(true, true, true);
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Complete);
  EXPECT_FALSE(out.decision.checked.empty());
  EXPECT_NE(out.decision.next_command.find("hermes kanban complete t_1"), std::string::npos);
}

TEST_F(EngineTest, ProtocolViolationWithEvidenceButNoOutputsResumesWithTheMissingList) {
  RunFacts f = run(0);
  f.artifacts = artifacts(true, false, false, {"*.md", "*.html"});
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Resume);
  EXPECT_EQ(out.decision.missing, (std::vector<std::string>{"*.md", "*.html"}));
}

TEST_F(EngineTest, ProtocolViolationWithoutEvidenceBlocksNamingTheMissingPaths) {
  RunFacts f = run(0);
  f.artifacts = artifacts(false, false, false, {"raw/*", "state/PROJECT_STATE.md"});
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Block);
  EXPECT_NE(out.decision.reason.find("raw/*, state/PROJECT_STATE.md"), std::string::npos);
  EXPECT_NE(out.decision.next_command.find("--kind needs_input"), std::string::npos);
}

TEST_F(EngineTest, AGaveUpTaskWhoseArtifactsPassIsCompleted) {
  RunFacts f = run(1, {hit(FailureClass::Connection, "connection-failed", 55)});
  f.exit.seen_by = ExitSource::Event;
  f.exit.event_kind = "gave_up";
  f.artifacts = artifacts(true, true, true);
  EXPECT_EQ(decide_run(f).decision.action, Action::Complete);
}

TEST_F(EngineTest, AGaveUpAfterMedicSaidCompleteForThatRunPublishesNothingNew) {
  // act waits for Hermes to end a run before it completes it; Hermes's breaker may give up
  // on the task in that same tick. The complete stands: no second one.
  RunFacts f = run(0);
  f.exit.seen_by = ExitSource::Event;
  f.exit.event_kind = "gave_up";
  f.gave_up = true;
  f.previous_action = Action::Complete;
  f.artifacts = artifacts(true, true, true);
  EXPECT_FALSE(decide_run(f).publish);
}

TEST_F(EngineTest, AGaveUpTaskWithoutPassingArtifactsIsDecidedByItsEvidence) {
  RunFacts f = run(0, {hit(FailureClass::RateLimit, "codex-usage-limit-reached", 80)});
  f.exit.seen_by = ExitSource::Event;
  f.exit.event_kind = "gave_up";
  f.artifacts = artifacts(true, false, false, {"*.md"});
  EXPECT_EQ(decide_run(f).decision.action, Action::RetryAt);
}

TEST_F(EngineTest, AWorkersOwnBlockWithPassingArtifactsIsCompletedAndIsNoProtocolViolation) {
  RunFacts f = run(0);
  f.blocked = true;
  f.blocked_reason = "waiting for review";
  f.artifacts = artifacts(true, true, true);
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Complete);
  EXPECT_FALSE(out.decision.failure_class);
  EXPECT_NE(out.decision.reason.find("waiting for review"), std::string::npos);
}

TEST_F(EngineTest, AWorkersOwnBlockWithFailingArtifactsStandsAsIgnore) {
  RunFacts f = run(0);
  f.blocked = true;
  f.artifacts = artifacts(true, false, false, {"*.md"});
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Ignore);
  EXPECT_EQ(out.decision.missing, (std::vector<std::string>{"*.md"}));
  EXPECT_NE(out.decision.reason.find("the block stands"), std::string::npos);
}

TEST_F(EngineTest, AWorkersBlockAfterARateLimitIsDecidedAsTheRateLimit) {
  RunFacts f = run(0, {hit(FailureClass::RateLimit, "codex-usage-limit-reached", 80)});
  f.blocked = true;
  f.artifacts = artifacts(true, false, false, {"*.md"});
  EXPECT_EQ(decide_run(f).decision.action, Action::RetryAt);
}

TEST_F(EngineTest, ABlockedParentWithWaitingChildrenBlocksWithTheMissingPathsUnlessItPasses) {
  RunFacts f = run(0);
  f.blocked = true;
  f.waiting_children = {"t_child"};
  f.artifacts = artifacts(true, false, false, {"report.html"});
  auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Block);
  EXPECT_NE(out.decision.reason.find("t_child"), std::string::npos);
  EXPECT_NE(out.decision.reason.find("report.html"), std::string::npos);
  EXPECT_EQ(out.decision.next_command, "hermes kanban unblock t_1");
  f.artifacts = artifacts(true, true, true);
  EXPECT_EQ(decide_run(f).decision.action, Action::Complete);
  f.artifacts.reset();
  EXPECT_EQ(decide_run(f).decision.action, Action::Block);  // never complete unchecked
}

TEST_F(EngineTest, ATimeoutWithSavedEvidenceResumesInsteadOfCollectingAgain) {
  RunFacts f = run(0, {hit(FailureClass::Timeout, "request-timed-out", 60)});
  f.artifacts = artifacts(true, false, false, {"*.md", "*.html"});
  const auto out = decide_run(f);
  EXPECT_EQ(out.decision.action, Action::Resume);
  EXPECT_EQ(out.decision.missing.size(), 2u);
  EXPECT_TRUE(out.decision.backoff_s);
}

TEST_F(EngineTest, LogEvidenceOutranksTheExitCode) {
  const auto out = decide_run(run(0, {hit(FailureClass::ProtocolViolation, "kanban-protocol-violation", 20),
                                      hit(FailureClass::RateLimit, "codex-usage-limit-reached", 80)}));
  EXPECT_EQ(out.decision.failure_class, FailureClass::RateLimit);
  EXPECT_NE(out.decision.action, Action::Block);
}

TEST_F(EngineTest, ExitCodesWithoutEvidenceFollowHermesClassification) {
  EXPECT_EQ(decide_run(run(75)).decision.failure_class, FailureClass::RateLimit);
  RunFacts f = run(78);
  f.task_id = "t_78";
  const auto terminal = decide_run(f);
  EXPECT_FALSE(terminal.decision.failure_class);
  EXPECT_EQ(terminal.decision.action, Action::Block);
  f = run(1);
  f.task_id = "t_crash";
  EXPECT_EQ(decide_run(f).decision.action, Action::Retry);
}

TEST_F(EngineTest, TheTasksMaxRetriesOverridesThePolicy) {
  RunFacts f = run(1, {hit(FailureClass::Connection, "c", 55)});
  f.task_max_retries = 1;
  EXPECT_EQ(decide_run(f).decision.action, Action::Retry);
  EXPECT_EQ(decide_run(f).decision.action, Action::Block);
}

TEST_F(EngineTest, AttemptsOlderThanTheWindowAreForgotten) {
  const auto f = run(1, {hit(FailureClass::Connection, "c", 55)});
  decide(f, policy_, state_, kNow);
  decide(f, policy_, state_, kNow + 1);
  const auto later = decide(f, policy_, state_, kNow + 7200);
  EXPECT_EQ(later.decision.attempt, 1);
  EXPECT_EQ(later.decision.action, rules::Action::Retry);
}

TEST_F(EngineTest, TheSameFailureAlwaysGetsTheSameBackoff) {
  EngineState a;
  EngineState b;
  const auto f = run(1, {hit(FailureClass::Overloaded, "o", 75)});
  EXPECT_EQ(decide(f, policy_, a, kNow).decision.backoff_s, decide(f, policy_, b, kNow).decision.backoff_s);
}

// A count whose attempts all left the longest window (rate limits': 4 h by default) counts
// nothing, and is dropped; one with an attempt inside it is kept whole.
TEST_F(EngineTest, CountsWhoseAttemptsAllLeftTheLongestWindowAreDropped) {
  RunFacts f = run(1, {hit(FailureClass::Connection, "c", 55)});
  decide(f, policy_, state_, kNow);
  f.task_id = "t_2";
  decide(f, policy_, state_, kNow + 3 * 3600);
  ASSERT_EQ(state_.attempts.size(), 2u);
  EXPECT_EQ(forget_expired_attempts(state_, policy_, kNow + 4 * 3600), 0u) << "t_1's attempt is 4 h old: inside";
  EXPECT_EQ(forget_expired_attempts(state_, policy_, kNow + 4 * 3600 + 1), 1u);
  ASSERT_EQ(state_.attempts.size(), 1u);
  EXPECT_EQ(state_.attempts.begin()->first, "default/t_2/connection");
}

}  // namespace
}  // namespace medic::decide
