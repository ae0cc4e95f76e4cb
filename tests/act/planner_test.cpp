// act's planner against the states act meets a task in (issue 10): only transitions
// Hermes allows from that state, "already there" as success, never fighting Hermes.
#include "act/planner.h"

#include <gtest/gtest.h>

namespace medic::act {
namespace {

using rules::Action;
using rules::FailureClass;

constexpr core::EpochSeconds kNow = 1780850000;

decide::Decision decision(Action a, std::optional<FailureClass> c = std::nullopt) {
  decide::Decision d;
  d.id = "default/t_1/3";
  d.board = "default";
  d.task_id = "t_1";
  d.run_id = 3;
  d.action = a;
  d.failure_class = c;
  d.reason = "a reason";
  return d;
}

TaskView view(std::string status, std::int64_t latest_run = 3, bool open = true) {
  TaskView t;
  t.exists = true;
  t.status = std::move(status);
  t.latest_run = latest_run;
  t.latest_run_open = open;
  return t;
}

std::vector<std::string> verbs(const Plan& p) {
  std::vector<std::string> out;
  for (const auto& c : p.commands) out.push_back(c.verb);
  return out;
}

using V = std::vector<std::string>;

TEST(PlannerTest, CompleteFromEveryStateHermesAllowsAndDispatches) {
  const auto d = decision(Action::Complete);
  const PlanOptions hermes_silent{true, false};  // Hermes never ended the run in time
  EXPECT_EQ(verbs(plan(d, view("running"), kNow, hermes_silent)), (V{"complete", "dispatch"}))
      << "no reclaim of a dead worker";
  EXPECT_EQ(verbs(plan(d, view("ready", 3, false), kNow)), (V{"complete", "dispatch"}));
  EXPECT_EQ(verbs(plan(d, view("blocked", 3, false), kNow)), (V{"complete", "dispatch"})) << "even after gave_up";
  EXPECT_EQ(verbs(plan(d, view("scheduled", 3, false), kNow)), (V{"unblock", "complete", "dispatch"}));
  EXPECT_TRUE(plan(d, view("done"), kNow).commands.empty()) << "already there";
  EXPECT_TRUE(plan(d, view("todo"), kNow).commands.empty());
  EXPECT_TRUE(plan(d, view("running", 4, true), kNow).commands.empty())
      << "a newer run is left to finish (a reclaim kills it and resets Hermes's counter)";
  EXPECT_TRUE(plan(d, TaskView{}, kNow).commands.empty());
  EXPECT_EQ(verbs(plan(d, view("running"), kNow, PlanOptions{false, false})), (V{"complete"}));
}

TEST(PlannerTest, ACompleteOfARunHermesHasNotEndedWaitsForHermesWord) {
  const auto d = decision(Action::Complete);
  // The decided run is still open: completing now would end it as `completed`, and
  // Hermes's own outcome for it (protocol_violation) would never be written.
  const Plan wait = plan(d, view("running", 3, true), kNow);
  EXPECT_TRUE(wait.commands.empty());
  EXPECT_TRUE(wait.wait_for_hermes);
  ASSERT_FALSE(wait.notes.empty());
  EXPECT_NE(wait.notes[0].find("run 3"), std::string::npos) << wait.notes[0];
  // Once Hermes has ended it: completed from where Hermes left it, with no wait.
  const Plan after = plan(d, view("ready", 3, false), kNow);
  EXPECT_FALSE(after.wait_for_hermes);
  EXPECT_EQ(verbs(after), (V{"complete", "dispatch"}));
  // Hermes started it again meanwhile: that run is left to finish.
  const Plan again = plan(d, view("running", 4, true), kNow);
  EXPECT_FALSE(again.wait_for_hermes);
  EXPECT_TRUE(again.commands.empty());
  // A block keeps Hermes from respawning a failing task: it does not wait.
  EXPECT_FALSE(plan(decision(Action::Block), view("running", 3, true), kNow).wait_for_hermes);
}

TEST(PlannerTest, ABlockWhereHermesBreakerTripsWaitsForHermesToBlockIt) {
  auto d = decision(Action::Block, FailureClass::ProtocolViolation);
  d.breaker = decide::BreakerOutlook{true, true, 1, 1, "protocol violations in a row"};
  // Hermes blocks the task itself on its tick: a block now would race it.
  const Plan wait = plan(d, view("running", 3, true), kNow);
  EXPECT_TRUE(wait.wait_for_hermes);
  EXPECT_TRUE(wait.commands.empty());
  // Hermes did block it: already there.
  EXPECT_TRUE(plan(d, view("blocked", 3, false), kNow).commands.empty());
  // Hermes did not (the board said otherwise): blocked from where it is.
  EXPECT_EQ(verbs(plan(d, view("ready", 3, false), kNow)), (V{"block"}));
  // No word from Hermes in time: blocked anyway.
  EXPECT_EQ(verbs(plan(d, view("running", 3, true), kNow, PlanOptions{true, false})), (V{"block"}));
}

TEST(PlannerTest, BlockOnlyFromRunningOrReadyAndNeverTwice) {
  const auto d = decision(Action::Block, FailureClass::QuotaExhausted);
  const Plan p = plan(d, view("running"), kNow);
  ASSERT_EQ(verbs(p), (V{"block"}));
  EXPECT_EQ(p.commands[0].options[0], (std::pair<std::string, std::string>{"kind", "capability"}));
  EXPECT_EQ(verbs(plan(d, view("ready", 3, false), kNow)), (V{"block"}));
  EXPECT_TRUE(plan(d, view("blocked", 3, false), kNow).commands.empty()) << "Hermes refuses: cannot block";
  EXPECT_TRUE(plan(d, view("scheduled", 3, false), kNow).commands.empty());
  EXPECT_TRUE(plan(d, view("running", 4, true), kNow).commands.empty()) << "stale: Hermes runs the task again";
}

TEST(PlannerTest, ARetryAtParksThenReleasesAtTheReset) {
  auto d = decision(Action::RetryAt, FailureClass::RateLimit);
  d.retry_at = kNow + 600;
  Plan p = plan(d, view("running"), kNow);
  EXPECT_EQ(verbs(p), (V{"schedule"}));
  ASSERT_TRUE(p.release_at);
  EXPECT_EQ(*p.release_at, kNow + 600);
  p = plan(d, view("scheduled", 3, false), kNow);
  EXPECT_TRUE(p.commands.empty()) << "already parked";
  EXPECT_TRUE(p.release_at);
  d.retry_at = kNow - 1;
  EXPECT_EQ(verbs(plan(d, view("scheduled", 3, false), kNow)), (V{"unblock", "dispatch"}));
  EXPECT_TRUE(plan(d, view("ready", 3, false), kNow).commands.empty()) << "unblock on ready fails in Hermes";
}

TEST(PlannerTest, NeverFightsHermesBreakerButForANamedReset) {
  auto d = decision(Action::RetryAt, FailureClass::RateLimit);
  d.retry_at = kNow + 60;
  TaskView gave_up = view("blocked", 3, false);
  gave_up.gave_up = true;
  EXPECT_TRUE(plan(d, gave_up, kNow).commands.empty());
  d.overrides_breaker = true;
  const Plan p = plan(d, gave_up, kNow);
  EXPECT_EQ(verbs(p), (V{"schedule"}));  // schedule accepts a blocked task (kanban_db.py:6712)
  EXPECT_TRUE(p.release_at);
  auto retry = decision(Action::Retry, FailureClass::Timeout);
  EXPECT_TRUE(plan(retry, gave_up, kNow).commands.empty());
  TaskView person = view("blocked", 3, false);  // not the breaker: a person or the worker
  EXPECT_TRUE(plan(d, person, kNow).commands.empty());
}

TEST(PlannerTest, PlainRetriesAreHermesOwnAndOnlyTheFallbackModelIsSet) {
  auto d = decision(Action::Retry, FailureClass::QuotaExhausted);
  d.retry_at = kNow;
  d.use_provider = "xai";
  d.use_model = "grok-4.3";
  Plan p = plan(d, view("running"), kNow);
  ASSERT_EQ(verbs(p), (V{"set-model"}));
  EXPECT_EQ(p.commands[0].positionals, (V{"t_1", "grok-4.3"})) << "a provider needs a model (kanban_db.py:3462)";
  TaskView already = view("ready", 3, false);
  already.provider_override = "xai";
  already.model_override = "grok-4.3";
  EXPECT_TRUE(plan(d, already, kNow).commands.empty());
  d.use_model.clear();
  p = plan(d, view("running"), kNow);
  EXPECT_TRUE(p.commands.empty()) << "never `set-model <id> none --provider P`";
  ASSERT_FALSE(p.notes.empty());
}

TEST(PlannerTest, AResumeLeavesANoteOfWhatIsMissing) {
  auto d = decision(Action::Resume, FailureClass::Timeout);
  d.missing = {"*.md", "*.html"};
  const Plan p = plan(d, view("running"), kNow);
  ASSERT_EQ(verbs(p), (V{"comment"}));
  EXPECT_NE(p.commands[0].positionals[1].find("Still missing: *.md, *.html"), std::string::npos);
}

TEST(PlannerTest, ReleaseOnlyWhatActParkedOrAnOverride) {
  EXPECT_EQ(verbs(plan_release("t_1", view("scheduled", 3, false), false)), (V{"unblock", "dispatch"}));
  EXPECT_TRUE(plan_release("t_1", view("ready", 3, false), false).commands.empty());
  TaskView gave_up = view("blocked", 3, false);
  gave_up.gave_up = true;
  EXPECT_TRUE(plan_release("t_1", gave_up, false).commands.empty());
  EXPECT_EQ(verbs(plan_release("t_1", gave_up, true)), (V{"unblock", "dispatch"}));
}

TEST(PlannerTest, AFailedPreflightBlocksOnlyWhenHermesAllowsIt) {
  auto d = decision(Action::RepairAuth, FailureClass::AuthMissing);
  d.assignee = "researcher";
  EXPECT_EQ(verbs(plan_after_preflight(d, view("running"), false, "not logged in")), (V{"block"}));
  EXPECT_TRUE(plan_after_preflight(d, view("blocked", 3, false), false, "x").commands.empty());
  EXPECT_TRUE(plan_after_preflight(d, view("running"), true, "").commands.empty());
}

}  // namespace
}  // namespace medic::act
