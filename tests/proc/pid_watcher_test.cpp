// PidWatcher on a real loop and real processes: a death is reported once, on the loop,
// whether or not the process has been reaped; unwatching stops it; a gone pid is refused.
#include "proc/pid_watcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/proc_stat.h"
#include "support/run_loop.h"

namespace medic::proc {
namespace {

using testing::run_until;

// A child that sleeps until killed.
pid_t spawn_sleeper() {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::pause();
    ::_exit(0);
  }
  return pid;
}

class PidWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  uv_loop_t loop_{};
};

TEST_F(PidWatcherTest, ReportsTheDeathOfAnUnreapedProcessOnce) {
  const pid_t pid = spawn_sleeper();
  int deaths = 0;
  bool done = false;
  {
    PidWatcher w(&loop_);
    ASSERT_TRUE(w.watch("k", pid, [&] {
      ++deaths;
      done = true;
    }));
    EXPECT_TRUE(w.watching("k"));
    ::kill(pid, SIGKILL);
    ASSERT_TRUE(run_until(&loop_, [&] { return done; }));
    // Still a zombie (nobody reaped it): its stat says so and holds the wait status.
    const auto st = proc_stat(pid);
    ASSERT_TRUE(st);
    EXPECT_EQ(st->state, 'Z');
    EXPECT_EQ(st->exit_code, SIGKILL);
    EXPECT_FALSE(w.watching("k"));
    EXPECT_EQ(w.size(), 0u);
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  EXPECT_EQ(deaths, 1);
  ::waitpid(pid, nullptr, 0);
}

TEST_F(PidWatcherTest, AnUnwatchedDeathIsNotReported) {
  const pid_t pid = spawn_sleeper();
  const pid_t marker = spawn_sleeper();
  bool reported = false;
  bool marker_done = false;
  {
    PidWatcher w(&loop_);
    ASSERT_TRUE(w.watch("k", pid, [&] { reported = true; }));
    ASSERT_TRUE(w.watch("m", marker, [&] { marker_done = true; }));
    w.unwatch("k");
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    // The marker dies after: once its death is reported, the other's would have been too.
    ::kill(marker, SIGKILL);
    ASSERT_TRUE(run_until(&loop_, [&] { return marker_done; }));
  }
  EXPECT_FALSE(reported);
  ::waitpid(marker, nullptr, 0);
}

TEST_F(PidWatcherTest, RefusesAPidThatIsGone) {
  const pid_t pid = spawn_sleeper();
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  PidWatcher w(&loop_);
  const auto ok = w.watch("k", pid, [] {});
  ASSERT_FALSE(ok);
  EXPECT_NE(ok.error().message.find("pidfd_open(" + std::to_string(pid) + ")"), std::string::npos);
  EXPECT_EQ(w.size(), 0u);
}

TEST(ProcStatTest, ReadsOwnStartTimeAndState) {
  const auto st = proc_stat(::getpid());
  ASSERT_TRUE(st);
  EXPECT_EQ(st->state, 'R');
  EXPECT_GT(st->start_ticks, 0u);
  EXPECT_GE(started_at(*st), boot_time());
  EXPECT_TRUE(exit_code_readable(::getpid()));
}

}  // namespace
}  // namespace medic::proc
