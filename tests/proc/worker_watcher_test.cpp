// WorkerWatcher on a real loop and real child processes: a worker's exit is reported with
// its wait status read from the unreaped zombie; a pid whose start time is not the one
// Hermes recorded (a reused pid, another host's worker) or that is gone is refused; an
// unwatched worker's exit is not reported.
#include "proc/worker_watcher.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc/proc_stat.h"
#include "support/run_loop.h"

namespace medic::proc {
namespace {

using testing::run_until;

// A child that waits for a byte on `fd`, then exits with `code`.
pid_t spawn_worker(int fd, int code) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    char c = 0;
    (void)::read(fd, &c, 1);
    ::_exit(code);
  }
  return pid;
}

std::int64_t started(pid_t pid) {
  const auto st = proc_stat(pid);
  return st ? started_at(*st) : -1;
}

class WorkerWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    ASSERT_EQ(::pipe(go_), 0);
  }
  void TearDown() override {
    ::close(go_[0]);
    ::close(go_[1]);
    uv_run(&loop_, UV_RUN_NOWAIT);
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  void release(int n) {
    for (int i = 0; i < n; ++i) ASSERT_EQ(::write(go_[1], "x", 1), 1);
  }
  uv_loop_t loop_{};
  int go_[2] = {-1, -1};
};

TEST_F(WorkerWatcherTest, ReportsTheExitWithTheStatusOfTheUnreapedWorker) {
  const pid_t pid = spawn_worker(go_[0], 75);
  std::optional<std::optional<int>> exit;
  {
    WorkerWatcher w(&loop_);
    ASSERT_TRUE(w.watch("default/t_a", pid, started(pid), [&](std::optional<int> s) { exit = s; }));
    EXPECT_TRUE(w.watching("default/t_a"));
    release(1);
    ASSERT_TRUE(run_until(&loop_, [&] { return exit.has_value(); }));
    EXPECT_FALSE(w.watching("default/t_a"));
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  ASSERT_TRUE(exit->has_value()) << "the zombie's status was not read";
  EXPECT_TRUE(WIFEXITED(**exit));
  EXPECT_EQ(WEXITSTATUS(**exit), 75);
  ::waitpid(pid, nullptr, 0);
}

TEST_F(WorkerWatcherTest, RefusesAPidThatStartedAtAnotherTimeOrIsGone) {
  const pid_t pid = spawn_worker(go_[0], 0);
  WorkerWatcher w(&loop_);
  // Hermes recorded a start a minute earlier: the pid was reused by another process.
  auto reused = w.watch("default/t_a", pid, started(pid) - 60, [](std::optional<int>) {});
  ASSERT_FALSE(reused);
  EXPECT_EQ(reused.error().code, core::ErrorCode::NotFound);
  EXPECT_FALSE(w.watching("default/t_a"));
  release(1);
  ::waitpid(pid, nullptr, 0);
  auto gone = w.watch("default/t_b", pid, started(::getpid()), [](std::optional<int>) {});
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, core::ErrorCode::NotFound);
  EXPECT_EQ(w.size(), 0u);
}

TEST_F(WorkerWatcherTest, AnUnwatchedWorkersExitIsNotReported) {
  const pid_t first = spawn_worker(go_[0], 1);
  const pid_t second = spawn_worker(go_[0], 2);
  int first_exits = 0;
  bool second_exited = false;
  {
    WorkerWatcher w(&loop_);
    ASSERT_TRUE(w.watch("default/t_a", first, started(first), [&](std::optional<int>) { ++first_exits; }));
    ASSERT_TRUE(w.watch("default/t_b", second, started(second), [&](std::optional<int>) { second_exited = true; }));
    w.unwatch("default/t_a");
    release(2);
    ::waitpid(first, nullptr, 0);
    // The second's exit comes after the first's: by then the first would have been seen.
    ASSERT_TRUE(run_until(&loop_, [&] { return second_exited; }));
    uv_run(&loop_, UV_RUN_NOWAIT);
  }
  EXPECT_EQ(first_exits, 0);
  ::waitpid(second, nullptr, 0);
}

}  // namespace
}  // namespace medic::proc
