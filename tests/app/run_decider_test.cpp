// RunDecider on a real loop (its acceptance walks on libuv's threadpool), a real board with
// Hermes's schema, a real journal behind the outbox and real workspaces on disk: a run
// with a workspace is published once its check is back, and never twice however many exit
// paths report it; a workspace outside the allowed roots gets no report, and the decision
// says so; a blocked parent with a child waiting is examined once per blocked spell.
#include "app/run_decider.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "integration/process.h"
#include "loop/handles.h"
#include "publish/journal.h"
#include "support/hermes_board.h"
#include "support/run_loop.h"

namespace medic::app {
namespace {

namespace fs = std::filesystem;
using testing::HermesBoard;
using testing::run_until;
using testing::TempDir;

class RunDeciderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    roots_ = artifacts::WorkspaceRoots::create({tmp_.path() + "/workspaces"});
    fs::create_directories(tmp_.path() + "/workspaces");
    board_.emplace(tmp_.path() + "/kanban.db");
    auto r = kanban::BoardReader::open(tmp_.path() + "/kanban.db");
    ASSERT_TRUE(r) << r.error().message;
    reader_.emplace(std::move(*r));
    auto j = publish::Journal::open(tmp_.path() + "/journal");
    ASSERT_TRUE(j) << j.error().message;
    journal_.emplace(std::move(*j));
    auto timer = loop::make_timer(&loop_, nullptr);
    ASSERT_TRUE(timer);
    outbox_.emplace(*journal_, std::move(*timer));
    options_.state_dir = tmp_.path() + "/state";
    decider_.emplace(&loop_, options_, roots_, tracker_, clock_);
    decider_->set_sinks(RunDecider::Sinks{
        &*outbox_, nullptr, [this](const std::string& key, const std::string&) { refused_.push_back(key); },
        [this] { ++published_; }});
  }
  void TearDown() override {
    decider_.reset();
    outbox_->stop();
    outbox_.reset();
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  kanban::BoardReader& reader() { return *reader_; }
  std::optional<kanban::TaskRow> row(const std::string& task) {
    auto r = reader().task(task);
    return r && *r ? std::optional<kanban::TaskRow>(**r) : std::nullopt;
  }
  // A worker that exited rc=1 with nothing in its log: an unexplained crash, which reads
  // the task's artifacts.
  static decide::DecideRun crash(const std::string& task, std::int64_t run) {
    decide::DecideRun d;
    d.key = "b/" + task;
    d.run_id = run;
    d.exit.rc = 1;
    d.exit.seen_by = decide::ExitSource::Trailer;
    d.exit.at = 1780000100;
    return d;
  }
  std::vector<std::string> decisions() {
    std::vector<std::string> out;
    EXPECT_TRUE(journal_->read(0, 1 << 20, [&](std::string_view l) {
      if (l.find("\"type\":\"decision\"") != std::string_view::npos) out.emplace_back(l);
    }));
    return out;
  }

  uv_loop_t loop_{};
  TempDir tmp_;
  DaemonOptions options_;
  artifacts::WorkspaceRoots roots_;
  decide::RunTracker tracker_{decide::TrackerOptions{90}};
  core::FakeClock clock_{1780000100};
  std::optional<HermesBoard> board_;
  std::optional<kanban::BoardReader> reader_;
  std::optional<publish::Journal> journal_;
  std::optional<publish::Outbox> outbox_;
  std::optional<RunDecider> decider_;
  std::vector<std::string> refused_;
  int published_ = 0;
};

TEST_F(RunDeciderTest, ARunWithAWorkspaceIsPublishedOnceItsCheckIsBackAndNeverTwice) {
  const std::string ws = tmp_.path() + "/workspaces/t_a";
  fs::create_directories(ws);
  board_->create_task("t_a", "build it", "w", ws);
  const std::int64_t run = board_->claim("t_a", 1780000000);
  auto r = row("t_a");
  ASSERT_TRUE(r);
  decider_->decide_run("b", &reader(), "t_a", crash("t_a", run), &*r);
  EXPECT_TRUE(decider_->checking()) << "a workspace to walk goes to the threadpool";
  EXPECT_TRUE(decisions().empty()) << "published before its acceptance check was back";
  // The same run's pid death, reported while the check is out.
  decider_->decide_run("b", &reader(), "t_a", crash("t_a", run), &*r);
  ASSERT_TRUE(run_until(&loop_, [&] { return !decider_->checking(); }));
  // And Hermes's event, after it.
  decider_->decide_run("b", &reader(), "t_a", crash("t_a", run), &*r);
  const auto lines = decisions();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"id\":\"b/t_a/" + std::to_string(run) + "\""), std::string::npos) << lines[0];
  EXPECT_EQ(decider_->decisions(), 1u);
  EXPECT_EQ(published_, 1);
  EXPECT_EQ(decider_->decided_by().at("trailer"), 1u);
}

TEST_F(RunDeciderTest, AWorkspaceOutsideTheRootsGetsNoReportAndTheDecisionSaysSo) {
  TempDir outside;
  board_->create_task("t_b", "x", "w", outside.path());
  const std::int64_t run = board_->claim("t_b", 1780000000);
  auto r = row("t_b");
  ASSERT_TRUE(r);
  decider_->decide_run("b", &reader(), "t_b", crash("t_b", run), &*r);
  ASSERT_TRUE(run_until(&loop_, [&] { return !decider_->checking(); }));
  const auto lines = decisions();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("refused: the state report in " + outside.path()), std::string::npos) << lines[0];
  ASSERT_EQ(refused_.size(), 1u);
  EXPECT_EQ(refused_[0], "report:b/t_b/" + std::to_string(run));
}

TEST_F(RunDeciderTest, ABlockedParentWithAWaitingChildIsExaminedOncePerBlockedSpell) {
  const std::string ws = tmp_.path() + "/workspaces/t_p";
  fs::create_directories(ws);  // a workspace to walk: the check goes to the threadpool
  board_->create_task("t_p", "parent", "w", ws);
  const std::int64_t run = board_->claim("t_p", 1780000000);
  board_->create_task("t_c", "child", "w");
  board_->exec("UPDATE tasks SET status='blocked', current_run_id=NULL WHERE id='t_p'");
  board_->exec("UPDATE tasks SET status='todo' WHERE id='t_c'");
  board_->exec("INSERT INTO task_links (parent_id, child_id) VALUES ('t_p', 't_c')");
  decider_->check_blocked_family("b", reader(), "t_p");
  EXPECT_TRUE(decider_->checking());
  decider_->check_blocked_family("b", reader(), "t_c");  // the child's side, while the check is out
  ASSERT_TRUE(run_until(&loop_, [&] { return !decider_->checking(); }));
  decider_->check_blocked_family("b", reader(), "t_p");  // the same spell, after it
  auto lines = decisions();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("\"id\":\"b/t_p/" + std::to_string(run) + "/blocked\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[0].find("t_c"), std::string::npos) << "the waiting child is named: " << lines[0];
  // Unblocked, run again, blocked again: a new spell, examined anew.
  const std::int64_t again = board_->claim("t_p", 1780000200);
  board_->exec("UPDATE tasks SET status='blocked', current_run_id=NULL WHERE id='t_p'");
  decider_->check_blocked_family("b", reader(), "t_p");
  ASSERT_TRUE(run_until(&loop_, [&] { return !decider_->checking(); }));
  lines = decisions();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[1].find("\"id\":\"b/t_p/" + std::to_string(again) + "/blocked\""), std::string::npos) << lines[1];
}

}  // namespace
}  // namespace medic::app
