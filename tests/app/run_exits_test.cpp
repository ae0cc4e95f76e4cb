// RunExits on a real loop with the real run tracker and real child processes as workers;
// the board is the callbacks' (locked or not, as each test says): an rc=0 exit on a
// locked board waits until the board is read; an rc=1 exit of a known run is decided
// without the board; an exit before its claim waits for the claim and is decided once it
// is read; a worker's death reads its log to the end, then the board, then is decided.
#include "app/run_exits.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "proc/proc_stat.h"
#include "support/run_loop.h"

namespace medic::app {
namespace {

using testing::run_until;

class RunExitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    exits_.emplace(&loop_, tracker_, clock_,
                   RunExits::Callbacks{
                       [](const std::string& board) { return board == "b"; },
                       [this](const std::string&) {
                         calls_.push_back("drain");
                         return !locked_;
                       },
                       [this](const std::string&) { calls_.push_back("read_soon"); },
                       [this](const std::string&, const std::string& task) { calls_.push_back("finish_log " + task); },
                       [this](const std::string&, const std::string& task, decide::Effects fx) {
                         calls_.push_back("apply " + task);
                         for (auto& d : fx.decide) decided_.push_back(std::move(d));
                       }});
  }
  void TearDown() override {
    exits_->stop();
    exits_.reset();
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  // Hermes's claim of the task's run, as the board follower hands it on.
  void claim(const std::string& task, std::int64_t run, std::int64_t pid = 0, std::int64_t started_at = 0) {
    decide::RunEvent e;
    e.kind = "claimed";
    e.run_id = run;
    e.at = clock_.now();
    tracker_.on_event("b/" + task, e, clock_.now());
    if (pid != 0) {
      decide::RunEvent s;
      s.kind = "spawned";
      s.run_id = run;
      s.at = clock_.now();
      s.pid = pid;
      s.started_at = started_at;
      auto fx = tracker_.on_event("b/" + task, s, clock_.now());
      ASSERT_TRUE(fx.watch_pid) << "the tracker did not ask for the worker to be watched";
      exits_->watch_pid("b", task, *fx.watch_pid);
    }
  }
  bool called(const std::string& what) const {
    for (const auto& c : calls_) {
      if (c == what) return true;
    }
    return false;
  }

  uv_loop_t loop_{};
  decide::RunTracker tracker_{decide::TrackerOptions{90}};
  core::SystemClock clock_;
  std::optional<RunExits> exits_;
  bool locked_ = false;
  std::vector<std::string> calls_;
  std::vector<decide::DecideRun> decided_;
};

TEST_F(RunExitsTest, AnRcZeroExitOnALockedBoardWaitsUntilTheBoardIsRead) {
  claim("t_a", 7);
  locked_ = true;
  exits_->on_trailer("b", "t_a", 0);
  EXPECT_TRUE(called("drain")) << "rc=0 needs the board (was there a kanban_complete?)";
  EXPECT_FALSE(called("apply t_a")) << "decided without the board";
  EXPECT_EQ(exits_->waiting("b"), 1u);
  locked_ = false;
  exits_->on_caught_up("b");
  EXPECT_TRUE(called("apply t_a"));
  ASSERT_EQ(decided_.size(), 1u);
  EXPECT_EQ(decided_[0].exit.rc, 0);
  EXPECT_EQ(exits_->waiting("b"), 0u);
}

TEST_F(RunExitsTest, AnRcOneExitOfAKnownRunIsDecidedWithoutTheBoard) {
  claim("t_a", 7);
  locked_ = true;
  exits_->on_trailer("b", "t_a", 1);
  EXPECT_FALSE(called("drain")) << "a failure with its run known waited for a locked board";
  ASSERT_EQ(decided_.size(), 1u);
  EXPECT_EQ(decided_[0].exit.rc, 1);
}

TEST_F(RunExitsTest, AnExitBeforeItsClaimWaitsForTheClaim) {
  exits_->on_trailer("b", "t_fast", 1);  // the worker failed before its claim was read
  EXPECT_TRUE(decided_.empty()) << "an exit of no known run was decided";
  EXPECT_TRUE(called("read_soon")) << "the board is not read again for the claim";
  exits_->on_caught_up("b");  // read, and the claim is still not there
  EXPECT_EQ(exits_->waiting("b"), 1u) << "dropped before its bound";
  claim("t_fast", 3);
  exits_->on_caught_up("b");
  ASSERT_EQ(decided_.size(), 1u);
  EXPECT_EQ(decided_[0].run_id, 3);
}

TEST_F(RunExitsTest, AWorkersDeathReadsItsLogThenTheBoardThenIsDecided) {
  int go[2];
  ASSERT_EQ(::pipe(go), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    char c = 0;
    (void)::read(go[0], &c, 1);
    ::_exit(0);  // a clean exit: whether it is a failure is on the board
  }
  const auto st = proc::proc_stat(pid);
  ASSERT_TRUE(st);
  claim("t_w", 5, pid, proc::started_at(*st));
  ASSERT_EQ(::write(go[1], "x", 1), 1);
  ASSERT_TRUE(run_until(&loop_, [&] { return called("apply t_w"); }));
  ::close(go[0]);
  ::close(go[1]);
  ::waitpid(pid, nullptr, 0);
  EXPECT_EQ(calls_, (std::vector<std::string>{"finish_log t_w", "drain", "apply t_w"}));
  EXPECT_EQ(exits_->pid_exits(), 1u);
  EXPECT_EQ(exits_->pid_exits_with_status(), 1u) << "the zombie's exit status was not read";
}

}  // namespace
}  // namespace medic::app
