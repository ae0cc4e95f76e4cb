// The run lifecycle as event sequences (issue 9): what real Hermes writes, in the orders
// the daemon can learn it, with no loop, no files and no sleeps.
#include "decide/run_tracker.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>

namespace medic::decide {
namespace {

using rules::Action;
using rules::FailureClass;

constexpr core::EpochSeconds kNow = 1780850000;
const std::string kKey = "default/t_1";

RunEvent ev(std::string kind, std::optional<std::int64_t> run, std::optional<int> exit_code = std::nullopt) {
  RunEvent e;
  e.kind = std::move(kind);
  e.run_id = run;
  e.at = kNow;
  e.exit_code = exit_code;
  return e;
}

RunEvent spawned(std::int64_t run, std::int64_t pid) {
  RunEvent e = ev("spawned", run);
  e.pid = pid;
  return e;
}

Evidence failure(FailureClass c, std::string rule = "r") {
  Evidence e;
  e.failure_class = c;
  e.rule = std::move(rule);
  e.priority = 50;
  e.path = "/l/t_1.log";
  e.line = 3;
  return e;
}

int exited(int code) { return code << 8; }  // a waitpid status, as /proc's exit_code holds it
int killed(int sig) { return sig; }

class RunTrackerTest : public ::testing::Test {
 protected:
  // Starts run `run` as Hermes does: claimed, then spawned with a pid.
  Effects start(std::int64_t run, std::int64_t pid = 4242) {
    t_.on_event(kKey, ev("claimed", run), kNow);
    return t_.on_event(kKey, spawned(run, pid), kNow);
  }
  // What the daemon does with a decision: publish it, and tell the tracker.
  const DecideRun& publish(const Effects& fx, Action a = Action::Retry, std::size_t i = 0) {
    EXPECT_GT(fx.decide.size(), i);
    const DecideRun& d = fx.decide.at(i);
    const std::string id = d.decision_id.empty() ? d.key + "/" + std::to_string(d.run_id) : d.decision_id;
    t_.note_decided(id, a);
    return d;
  }
  RunTracker t_{TrackerOptions{90}};
};

TEST_F(RunTrackerTest, SpawnedArmsAPidWatchForItsRun) {
  const Effects fx = start(3, 777);
  ASSERT_TRUE(fx.watch_pid);
  EXPECT_EQ(fx.watch_pid->run_id, 3);
  EXPECT_EQ(fx.watch_pid->pid, 777);
  EXPECT_TRUE(fx.reread_row) << "Hermes sets workspace_path after the claim, with no event";
}

TEST_F(RunTrackerTest, AZombieExitCodeDecidesAtOnceAndLaterSignalsAreIgnored) {
  start(1);
  t_.on_hit(kKey, failure(FailureClass::RateLimit));
  const Effects fx = t_.on_pid_exit(kKey, 1, exited(0), kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  const DecideRun& d = publish(fx, Action::RetryAt);
  EXPECT_EQ(d.run_id, 1);
  EXPECT_EQ(d.exit.seen_by, ExitSource::Pid);
  EXPECT_EQ(d.exit.rc, 0);
  EXPECT_EQ(d.evidence.size(), 1u);
  EXPECT_TRUE(fx.unwatch_pid);
  // Hermes's own event for that run on its next tick, and a trailer: no second decision.
  EXPECT_TRUE(t_.on_event(kKey, ev("protocol_violation", 1, 0), kNow + 60).decide.empty());
  // A trailer now can only end a later run: the caller names it from the row (where it
  // finds this decided run and stops).
  const Effects late = t_.on_trailer(kKey, 0, kNow);
  ASSERT_EQ(late.decide.size(), 1u);
  EXPECT_EQ(late.decide[0].run_id, 0);
}

TEST_F(RunTrackerTest, ACleanZombieExitWithNoEvidenceDecidesNowAsAnExitCode) {
  start(1);
  const Effects fx = t_.on_pid_exit(kKey, 1, exited(0), kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].exit.rc, 0);
  EXPECT_FALSE(fx.wait_until);
}

TEST_F(RunTrackerTest, AReapedPidWithoutEvidenceWaitsForHermesThenTakesItsEvent) {
  start(1);
  Effects fx = t_.on_pid_exit(kKey, 1, std::nullopt, kNow);
  EXPECT_TRUE(fx.decide.empty());
  ASSERT_TRUE(fx.wait_until);
  EXPECT_EQ(*fx.wait_until, kNow + 90);
  fx = t_.on_event(kKey, ev("protocol_violation", 1, 0), kNow + 61);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].exit.seen_by, ExitSource::Event);
  EXPECT_EQ(fx.decide[0].exit.event_kind, "protocol_violation");
  EXPECT_EQ(fx.decide[0].exit.rc, 0);
  EXPECT_TRUE(fx.cancel_wait);
}

TEST_F(RunTrackerTest, AReapedPidWhoseLogShowsAFailureDecidesWithoutWaiting) {
  start(1);
  t_.on_hit(kKey, failure(FailureClass::AuthMissing));
  const Effects fx = t_.on_pid_exit(kKey, 1, std::nullopt, kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_FALSE(fx.decide[0].exit.rc);
}

TEST_F(RunTrackerTest, AnAuxiliaryFailureAloneDoesNotSkipTheWait) {
  start(1);
  t_.on_hit(kKey, failure(FailureClass::AuthAuxiliary));
  EXPECT_TRUE(t_.on_pid_exit(kKey, 1, std::nullopt, kNow).wait_until);
}

TEST_F(RunTrackerTest, AKilledWorkerWaitsForHermesToSayWhyTimedOut) {
  start(6);
  Effects fx = t_.on_pid_exit(kKey, 6, killed(15), kNow);
  EXPECT_TRUE(fx.decide.empty()) << "Hermes kills on timeout and says so on its tick";
  fx = t_.on_event(kKey, ev("timed_out", 6), kNow + 5);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].exit.event_kind, "timed_out");
}

TEST_F(RunTrackerTest, TheWaitExpiresIntoADecisionWithWhatIsKnown) {
  start(2);
  t_.on_pid_exit(kKey, 2, killed(9), kNow);
  const Effects fx = t_.on_wait_expired(kKey, kNow + 90);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_TRUE(fx.decide[0].exit.waited);
  EXPECT_EQ(fx.decide[0].exit.signal, 9);
  EXPECT_EQ(fx.decide[0].exit.seen_by, ExitSource::Pid);
  EXPECT_TRUE(t_.on_wait_expired(kKey, kNow + 91).decide.empty());
}

TEST_F(RunTrackerTest, ARunThatEndedInKanbanCompleteGetsNoDecisionNorDoesItsTrailer) {
  start(3);
  t_.on_hit(kKey, failure(FailureClass::Timeout));  // an error the worker recovered from
  Effects fx = t_.on_event(kKey, ev("completed", 3), kNow);
  EXPECT_EQ(fx.finished_run, 3);
  EXPECT_TRUE(fx.unwatch_pid);
  EXPECT_TRUE(t_.on_trailer(kKey, 0, kNow).decide.empty()) << "newer Hermes writes rc=0 after kanban_complete";
  EXPECT_TRUE(t_.on_pid_exit(kKey, 3, exited(0), kNow).decide.empty());
  EXPECT_TRUE(t_.on_event(kKey, ev("protocol_violation", 3, 0), kNow).decide.empty());
}

TEST_F(RunTrackerTest, TheNextRunStartsCleanAfterACompletedRun) {
  start(3);
  t_.on_event(kKey, ev("completed", 3), kNow);
  t_.on_hit(kKey, failure(FailureClass::Timeout));  // chrome after the call, same run
  start(4);
  t_.on_hit(kKey, failure(FailureClass::EnvMissing));
  const Effects fx = t_.on_trailer(kKey, 1, kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].run_id, 4);
  ASSERT_EQ(fx.decide[0].evidence.size(), 1u);
  EXPECT_EQ(fx.decide[0].evidence[0].failure_class, FailureClass::EnvMissing);
}

TEST_F(RunTrackerTest, AWorkersOwnBlockIsCarriedToItsExit) {
  start(5);
  RunEvent b = ev("blocked", 5);
  b.reason = "need the API key";
  const Effects fx0 = t_.on_event(kKey, b, kNow);
  EXPECT_FALSE(fx0.task_blocked);
  const Effects fx = t_.on_trailer(kKey, 0, kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_TRUE(fx.decide[0].worker_blocked);
  EXPECT_EQ(fx.decide[0].blocked_reason, "need the API key");
}

TEST_F(RunTrackerTest, AWorkerThatBlockedItselfIsDecidedAtItsDeathEvenWithoutAStatus) {
  // Hermes's dispatcher often loses a worker's exit status (Python's subprocess reaps it at
  // the next Popen) and writes no run-ending event after a worker's own block.
  start(5);
  t_.on_event(kKey, ev("blocked", 5), kNow);
  const Effects fx = t_.on_pid_exit(kKey, 5, std::nullopt, kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_TRUE(fx.decide[0].worker_blocked);
  EXPECT_FALSE(fx.wait_until);
}

TEST_F(RunTrackerTest, ABlockByAnotherHandOrOfNoRunExaminesTheFamily) {
  EXPECT_TRUE(t_.on_event(kKey, ev("blocked", std::nullopt), kNow).task_blocked);
}

TEST_F(RunTrackerTest, GaveUpIsATaskLevelDecisionNamedAfterTheRunNeverSlashZero) {
  start(7);
  publish(t_.on_pid_exit(kKey, 7, exited(1), kNow), Action::Retry);
  EXPECT_TRUE(t_.on_event(kKey, ev("crashed", 7, 1), kNow + 60).decide.empty());
  const Effects fx = t_.on_event(kKey, ev("gave_up", std::nullopt), kNow + 60);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].decision_id, kKey + "/7/gave_up");
  EXPECT_EQ(fx.decide[0].run_id, 7);
  EXPECT_TRUE(fx.decide[0].gave_up);
  EXPECT_EQ(fx.decide[0].previous_action, Action::Retry);
  t_.note_decided(kKey + "/7/gave_up", Action::Block);
  EXPECT_TRUE(t_.on_event(kKey, ev("gave_up", std::nullopt), kNow + 61).decide.empty()) << "once";
}

TEST_F(RunTrackerTest, HermesEventFirstDecidesAndDropsThePidWatch) {
  start(8);
  const Effects fx = t_.on_event(kKey, ev("rate_limited", 8), kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].exit.rc, 75);
  EXPECT_TRUE(fx.unwatch_pid);
  publish(fx, Action::RetryAt);
  EXPECT_TRUE(t_.on_pid_exit(kKey, 8, exited(75), kNow).decide.empty());
}

TEST_F(RunTrackerTest, EveryRunEndingEventOfHermesEndsTheRun) {
  std::int64_t run = 10;
  for (const char* kind :
       {"crashed", "protocol_violation", "rate_limited", "timed_out", "stale", "reclaimed", "spawn_failed"}) {
    start(run);
    const Effects fx = t_.on_event(kKey, ev(kind, run), kNow);
    ASSERT_EQ(fx.decide.size(), 1u) << kind;
    EXPECT_EQ(fx.decide[0].exit.event_kind, kind);
    publish(fx);
    ++run;
  }
  EXPECT_TRUE(t_.on_event(kKey, ev("heartbeat", run - 1), kNow).decide.empty());
  EXPECT_TRUE(t_.on_event(kKey, ev("skipped_nonspawnable", std::nullopt), kNow).decide.empty());
}

TEST_F(RunTrackerTest, ATrailerBeforeTheClaimIsReadLeavesTheRunToTheRow) {
  t_.on_hit(kKey, failure(FailureClass::EnvMissing));
  const Effects fx = t_.on_trailer(kKey, 1, kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].run_id, 0) << "the daemon names it from the task row, never /0";
}

TEST_F(RunTrackerTest, ATrailerAfterTheCurrentRunWasDecidedBelongsToALaterRun) {
  start(1);
  publish(t_.on_trailer(kKey, 1, kNow));
  const Effects fx = t_.on_trailer(kKey, 1, kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].run_id, 0);
}

TEST_F(RunTrackerTest, AReclaimDeferredMakesTheFollowingKillWaitForHermes) {
  start(9);
  t_.on_event(kKey, ev("reclaim_deferred", 9), kNow);
  EXPECT_TRUE(t_.on_pid_exit(kKey, 9, exited(0), kNow).decide.empty());
  const Effects fx = t_.on_event(kKey, ev("reclaimed", 9), kNow + 1);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].exit.event_kind, "reclaimed");
}

TEST_F(RunTrackerTest, AReclaimByMedicActIsNoFailureToDecide) {
  start(4);
  RunEvent r = ev("reclaimed", 4);
  r.reason = "medic: default/t_1/3";
  const Effects fx = t_.on_event(kKey, r, kNow);
  EXPECT_TRUE(fx.decide.empty());
  EXPECT_EQ(fx.finished_run, 4);
  EXPECT_TRUE(t_.on_pid_exit(kKey, 4, killed(15), kNow).decide.empty());
}

TEST_F(RunTrackerTest, ALateEventAboutADecidedRunDoesNotRevive) {
  start(2);
  publish(t_.on_trailer(kKey, 1, kNow));
  start(3);
  const Effects fx = t_.on_event(kKey, spawned(2, 55), kNow);
  EXPECT_FALSE(fx.watch_pid);
  EXPECT_EQ(t_.current_run(kKey), 3);
}

TEST_F(RunTrackerTest, HermesEndingARunDecidedEarlierIsReportedOnceWithItsKind) {
  start(4);
  publish(t_.on_pid_exit(kKey, 4, exited(0), kNow), Action::Complete);
  // Hermes's tick classifies the dead worker's run: its word on a run medic decided.
  const Effects fx = t_.on_event(kKey, ev("protocol_violation", 4, 0), kNow + 30);
  EXPECT_TRUE(fx.decide.empty());
  ASSERT_TRUE(fx.hermes_ended);
  EXPECT_EQ(fx.hermes_ended->decision_id, kKey + "/4");
  EXPECT_EQ(fx.hermes_ended->run_id, 4);
  EXPECT_EQ(fx.hermes_ended->kind, "protocol_violation");
  // A run decided by its own event, and a run never decided, say nothing more.
  start(5);
  const Effects by_event = t_.on_event(kKey, ev("crashed", 5, 1), kNow + 90);
  ASSERT_EQ(by_event.decide.size(), 1u);
  EXPECT_FALSE(by_event.hermes_ended);
}

TEST_F(RunTrackerTest, ALineKeepsOnlyItsStrongestHit) {
  start(1);
  Evidence weak = failure(FailureClass::AuthExpired);
  weak.priority = 10;
  Evidence strong = failure(FailureClass::AuthAuxiliary);
  strong.priority = 90;
  t_.on_hit(kKey, weak);
  t_.on_hit(kKey, strong);
  t_.on_hit(kKey, weak);
  const Effects fx = t_.on_trailer(kKey, 1, kNow);
  ASSERT_EQ(fx.decide[0].evidence.size(), 1u);
  EXPECT_EQ(fx.decide[0].evidence[0].failure_class, FailureClass::AuthAuxiliary);
}

TEST_F(RunTrackerTest, ContextLinesSetTheProvider) {
  start(1);
  Evidence ctx;
  ctx.rule = "hermes-provider";
  ctx.fields.push_back(match::Field{"provider", std::string("openai-codex")});
  t_.on_hit(kKey, ctx);
  const Effects fx = t_.on_trailer(kKey, 1, kNow);
  EXPECT_EQ(fx.decide[0].provider, "openai-codex");
  EXPECT_TRUE(fx.decide[0].evidence.empty());
}

TEST_F(RunTrackerTest, SavedStateRestoresTheRunAndItsEvidence) {
  start(4);
  t_.on_hit(kKey, failure(FailureClass::Timeout));
  auto saved = t_.save();
  RunTracker other;
  for (auto& [k, s] : saved) other.restore(k, s);
  const Effects fx = other.on_trailer(kKey, 1, kNow);
  ASSERT_EQ(fx.decide.size(), 1u);
  EXPECT_EQ(fx.decide[0].run_id, 4);
  EXPECT_EQ(fx.decide[0].evidence.size(), 1u);
}

// A run the worker finished with its own Kanban call stays ended across a restart: at rest
// (so it can be forgotten and its log parked), and its later trailer is still no failure.
TEST_F(RunTrackerTest, AFinishedRunStaysEndedAcrossARestart) {
  start(6);
  t_.on_event(kKey, ev("completed", 6), kNow);
  const std::string going = "default/t_going";
  t_.on_event(going, ev("claimed", 8), kNow);
  auto saved = t_.save();
  RunTracker other;
  for (auto& [k, s] : saved) other.restore(k, s);
  EXPECT_TRUE(other.at_rest(kKey)) << "a completed run came back live";
  EXPECT_FALSE(other.at_rest(going)) << "a run still going came back ended";
  EXPECT_TRUE(other.on_trailer(kKey, 0, kNow + 1).decide.empty()) << "the trailer after kanban_complete";
  EXPECT_EQ(other.forget_idle(kNow + 24 * 3600 + 10).size(), 1u);
}

// A daemon that runs for months: a task at rest is forgotten after a day without news, and
// what was decided stays decided.
TEST_F(RunTrackerTest, ATaskAtRestIsForgottenAfterItsIdleTimeAndItsDecisionStands) {
  start(2);
  publish(t_.on_trailer(kKey, 1, kNow));
  const std::string live = "default/t_live";
  t_.on_event(live, ev("claimed", 9), kNow);  // a run going on is never forgotten
  const std::string waiting = "default/t_wait";
  t_.on_event(waiting, ev("claimed", 7), kNow);
  EXPECT_TRUE(t_.on_pid_exit(waiting, 7, std::nullopt, kNow).wait_until) << "a death that waits for Hermes";
  const std::string evidence = "default/t_ev";
  t_.on_event(evidence, ev("claimed", 8), kNow);
  t_.on_trailer(evidence, 1, kNow);                     // decided by no one yet: its run is over, its evidence taken
  t_.on_hit(evidence, failure(FailureClass::Timeout));  // bytes after it, kept for the next run
  EXPECT_TRUE(t_.forget_idle(kNow + 24 * 3600 - 1).empty()) << "idle less than a day";
  const auto gone = t_.forget_idle(kNow + 24 * 3600);
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0], kKey);
  EXPECT_EQ(t_.size(), 3u);
  EXPECT_EQ(t_.current_run(kKey), 0);
  // Hermes's late word on the forgotten run: still no second decision, still reported.
  const Effects late = t_.on_event(kKey, ev("crashed", 2, 1), kNow + 24 * 3600 + 5);
  EXPECT_TRUE(late.decide.empty());
  ASSERT_TRUE(late.hermes_ended);
  EXPECT_EQ(late.hermes_ended->decision_id, kKey + "/2");
  // And its next run is tracked as any new one.
  EXPECT_TRUE(start(3).watch_pid);
  EXPECT_EQ(t_.current_run(kKey), 3);
}

// Too many tasks at rest: the longest idle go first, but none idle for less than the
// minimum (a trailer after kanban_complete, or Hermes's gave_up, may still come for it).
TEST_F(RunTrackerTest, AboveTheCapTheLongestIdleAtRestGoFirstButNeverTheRecentlyEnded) {
  RunTracker t{TrackerOptions{90, 24 * 3600, 2, 600}};
  for (int i = 0; i < 5; ++i) {
    const std::string key = "default/t_" + std::to_string(i);
    t.on_event(key, ev("claimed", i + 1), kNow + i * 400);
    t.on_trailer(key, 1, kNow + i * 400);
    t.note_decided(key + "/" + std::to_string(i + 1), Action::Retry);
  }
  // Ages at kNow + 1800: 1800, 1400, 1000, 600, 200 s. Five at rest, the cap is two: the
  // three oldest are over, and all three are past the 600 s minimum.
  auto gone = t.forget_idle(kNow + 1800);
  std::sort(gone.begin(), gone.end());
  EXPECT_EQ(gone, (std::vector<std::string>{"default/t_0", "default/t_1", "default/t_2"}));
  EXPECT_EQ(t.size(), 2u);
  // Three more, all ended just now: over the cap, but too recent to forget.
  for (int i = 5; i < 8; ++i) {
    const std::string key = "default/t_" + std::to_string(i);
    t.on_event(key, ev("claimed", i + 1), kNow + 1800);
    t.on_trailer(key, 1, kNow + 1800);
  }
  gone = t.forget_idle(kNow + 1801);
  EXPECT_EQ(gone, (std::vector<std::string>{"default/t_3"})) << "only t_3 (idle 601 s) may go";
  EXPECT_EQ(t.size(), 4u);
}

}  // namespace
}  // namespace medic::decide
