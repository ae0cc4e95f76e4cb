// Hermes's breaker predicted as kanban_db.py (aaf96885) trips it, and the engine turning a
// retry Hermes will not allow into a block, except a rate limit at a named reset.
#include "decide/breaker.h"

#include <gtest/gtest.h>

#include "decide/engine.h"

namespace medic::decide {
namespace {

using rules::Action;
using rules::FailureClass;

ExitInfo rc(int code) {
  ExitInfo e;
  e.seen_by = ExitSource::Pid;
  e.rc = code;
  return e;
}

ExitInfo event(const char* kind) {
  ExitInfo e;
  e.seen_by = ExitSource::Event;
  e.event_kind = kind;
  return e;
}

TEST(BreakerTest, ACrashTripsAtMaxRetriesOrTheDispatcherLimit) {
  BreakerFacts f;
  f.max_retries = 1;
  EXPECT_TRUE(predict_breaker(rc(1), f).trips);
  f.max_retries.reset();
  EXPECT_FALSE(predict_breaker(rc(1), f).trips);  // 1 of 2
  f.consecutive_failures = 1;
  const auto o = predict_breaker(rc(1), f);
  EXPECT_TRUE(o.trips);
  EXPECT_EQ(o.failures, 2);
  EXPECT_EQ(o.limit, 2);
  EXPECT_EQ(o.budget, "consecutive failures");
}

TEST(BreakerTest, ProtocolViolationsHaveTheirOwnStreakOfThree) {
  BreakerFacts f;
  f.consecutive_failures = 5;  // not what protocol violations count
  f.pv_streak = 1;
  EXPECT_FALSE(predict_breaker(rc(0), f).trips);
  f.pv_streak = 2;
  EXPECT_TRUE(predict_breaker(rc(0), f).trips);
  EXPECT_EQ(predict_breaker(rc(0), f).budget, "protocol violations in a row");
  f.pv_streak = 0;
  f.max_retries = 1;
  EXPECT_TRUE(predict_breaker(event("protocol_violation"), f).trips);
}

TEST(BreakerTest, ARunHermesClosedIsAlreadyCounted) {
  BreakerFacts f;
  f.consecutive_failures = 1;
  f.run_closed = true;
  EXPECT_FALSE(predict_breaker(event("crashed"), f).trips);
  f.consecutive_failures = 2;
  EXPECT_TRUE(predict_breaker(event("timed_out"), f).trips);
}

TEST(BreakerTest, RateLimitsStaleAndReclaimedRunsNeverCount) {
  BreakerFacts f;
  f.max_retries = 1;
  for (const ExitInfo& e : {rc(75), event("rate_limited"), event("stale"), event("reclaimed")}) {
    EXPECT_FALSE(predict_breaker(e, f).counted);
    EXPECT_FALSE(predict_breaker(e, f).trips);
  }
}

RunFacts facts_with(ExitInfo exit, std::vector<Evidence> ev, int max_retries) {
  RunFacts f;
  f.task_id = "t_1";
  f.run_id = 7;
  f.exit = std::move(exit);
  f.evidence = std::move(ev);
  f.breaker = BreakerFacts{};
  f.breaker->max_retries = max_retries;
  return f;
}

Evidence hit(FailureClass c, match::Fields fields = {}) {
  Evidence e;
  e.failure_class = c;
  e.rule = "r";
  e.priority = 50;
  e.fields = std::move(fields);
  return e;
}

TEST(BreakerTest, ARetryHermesWillNotAllowBecomesABlockThatSaysWhy) {
  EngineState st;
  const auto out = decide(facts_with(rc(1), {hit(FailureClass::Timeout)}, 1), rules::Policy::defaults(), st, 1000);
  EXPECT_EQ(out.decision.action, Action::Block);
  ASSERT_TRUE(out.decision.breaker);
  EXPECT_TRUE(out.decision.breaker->trips);
  EXPECT_FALSE(out.decision.overrides_breaker);
  EXPECT_NE(out.decision.reason.find("Hermes's breaker trips at this exit (1 consecutive failures, limit 1)"),
            std::string::npos)
      << out.decision.reason;
  EXPECT_FALSE(out.decision.retry_at);
}

TEST(BreakerTest, ARateLimitWithANamedResetOverridesTheBreakerAndSaysSo) {
  EngineState st;
  const auto out = decide(facts_with(rc(0), {hit(FailureClass::RateLimit, {{"resets_at", std::int64_t{5000}}})}, 1),
                          rules::Policy::defaults(), st, 1000);
  EXPECT_EQ(out.decision.action, Action::RetryAt);
  EXPECT_EQ(out.decision.retry_at, 5000);
  EXPECT_TRUE(out.decision.overrides_breaker);
  EXPECT_NE(out.decision.reason.find("overrides it"), std::string::npos) << out.decision.reason;
}

TEST(BreakerTest, ARateLimitWithoutAResetDoesNotOverride) {
  EngineState st;
  const auto out = decide(facts_with(rc(0), {hit(FailureClass::RateLimit)}, 1), rules::Policy::defaults(), st, 1000);
  EXPECT_EQ(out.decision.action, Action::Block);
}

TEST(BreakerTest, GaveUpAfterARetryPublishesABlockAndAfterABlockNothing) {
  EngineState st;
  RunFacts f;
  f.task_id = "t_1";
  f.run_id = 7;
  f.decision_id = "default/t_1/7/gave_up";
  f.exit = event("gave_up");
  f.gave_up = true;
  f.previous_action = Action::Retry;
  auto out = decide(f, rules::Policy::defaults(), st, 1000);
  EXPECT_TRUE(out.publish);
  EXPECT_EQ(out.decision.action, Action::Block);
  EXPECT_EQ(out.decision.id, "default/t_1/7/gave_up");
  f.previous_action = Action::Block;
  EXPECT_FALSE(decide(f, rules::Policy::defaults(), st, 1000).publish);
  f.previous_action = Action::RetryAt;
  EXPECT_FALSE(decide(f, rules::Policy::defaults(), st, 1000).publish);
  // The work is on disk: complete, whatever was decided before.
  f.previous_action = Action::Block;
  f.artifacts = ArtifactFacts{true, true, true, true, {"ok: a", "ok: b"}, {}, {}};
  out = decide(f, rules::Policy::defaults(), st, 1000);
  EXPECT_TRUE(out.publish);
  EXPECT_EQ(out.decision.action, Action::Complete);
}

}  // namespace
}  // namespace medic::decide
