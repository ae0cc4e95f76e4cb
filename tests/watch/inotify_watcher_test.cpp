// The inotify backend on a real loop (the libuv tests' way): run the loop until a
// condition holds, with a guard timer that fails instead of hanging.
#include "watch/inotify_watcher.h"

#include <gtest/gtest.h>
#include <uv.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <vector>

#include "integration/process.h"
#include "loop/uv_handle.h"

namespace medic::watch {
namespace {

namespace fs = std::filesystem;

class InotifyWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    auto w = InotifyWatcher::create(&loop_);
    ASSERT_TRUE(w) << w.error().message;
    watcher_ = std::move(*w);
  }
  void TearDown() override {
    watcher_.reset();
    loop::close_loop(&loop_);
  }
  // Runs the loop until `done()` or 5 s; false on the guard.
  template <class Pred>
  bool run_until(Pred done) {
    bool timed_out = false;
    uv_timer_t guard;
    uv_timer_init(&loop_, &guard);
    guard.data = &timed_out;
    uv_timer_start(
        &guard, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, 5000, 0);
    while (!done() && !timed_out) uv_run(&loop_, UV_RUN_ONCE);
    uv_close(reinterpret_cast<uv_handle_t*>(&guard), nullptr);
    uv_run(&loop_, UV_RUN_NOWAIT);
    return !timed_out;
  }
  uv_loop_t loop_{};
  std::unique_ptr<InotifyWatcher> watcher_;
  testing::TempDir dir_;
};

TEST_F(InotifyWatcherTest, ReportsEntriesByName) {
  std::vector<std::string> names;
  ASSERT_TRUE(watcher_->add(
      dir_.path(), [&](std::string_view n, Watcher::Change) { names.emplace_back(n); }, [] {}));
  dir_.file("t_1.log", "x\n");
  ASSERT_TRUE(run_until([&] { return !names.empty(); }));
  EXPECT_EQ(names.front(), "t_1.log");
}

// Writes that pile up between two reads of the inotify queue are one change per name:
// a name written 200 times before the loop looks is reported once, the other once too.
TEST_F(InotifyWatcherTest, ManyWritesToANameBeforeTheLoopLooksAreOneChange) {
  std::vector<std::string> names;
  ASSERT_TRUE(watcher_->add(
      dir_.path(), [&](std::string_view n, Watcher::Change) { names.emplace_back(n); }, [] {}));
  {
    std::ofstream a(dir_.path() + "/t_a.log");
    std::ofstream b(dir_.path() + "/t_b.log");
    for (int i = 0; i < 200; ++i) {
      a << "line " << i << "\n" << std::flush;
      b << "line " << i << "\n" << std::flush;
    }
  }
  ASSERT_TRUE(run_until([&] { return names.size() >= 2; }));
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(std::count(names.begin(), names.end(), "t_a.log"), 1) << names.size();
  EXPECT_EQ(std::count(names.begin(), names.end(), "t_b.log"), 1) << names.size();
}

// A name only written is reported Written (the tailer then reads on through the descriptor it
// holds, with no lookup); one created, renamed over or removed is Replaced, and in a batch
// that also wrote it, Replaced wins.
TEST_F(InotifyWatcherTest, SaysWhetherANameWasOnlyWrittenOrMayHoldAnotherFile) {
  dir_.file("t_w.log", "x\n");
  dir_.file("t_r.log", "x\n");
  dir_.file("t_d.log", "x\n");
  dir_.file("other", "y\n");
  std::map<std::string, Watcher::Change> seen;
  ASSERT_TRUE(watcher_->add(
      dir_.path(), [&](std::string_view n, Watcher::Change c) { seen[std::string(n)] = c; }, [] {}));
  {
    std::ofstream w(dir_.path() + "/t_w.log", std::ios::app);
    w << "more\n" << std::flush;
    std::ofstream r(dir_.path() + "/t_r.log", std::ios::app);
    r << "more\n" << std::flush;
  }
  fs::rename(dir_.path() + "/other", dir_.path() + "/t_r.log");  // renamed over, same batch as its write
  fs::remove(dir_.path() + "/t_d.log");
  dir_.file("t_c.log", "new\n");
  ASSERT_TRUE(run_until([&] { return seen.count("t_c.log") > 0; }));  // the last change made
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(seen.at("t_w.log"), Watcher::Change::Written);
  EXPECT_EQ(seen.at("t_r.log"), Watcher::Change::Replaced);
  EXPECT_EQ(seen.at("t_d.log"), Watcher::Change::Replaced);
  EXPECT_EQ(seen.at("t_c.log"), Watcher::Change::Replaced);
}

TEST_F(InotifyWatcherTest, ADeletedDirectoryIsReportedGoneOnce) {
  const std::string sub = dir_.path() + "/logs";
  fs::create_directories(sub);
  int gone = 0;
  ASSERT_TRUE(watcher_->add(
      sub, [](std::string_view, Watcher::Change) {}, [&] { ++gone; }));
  fs::remove_all(sub);
  ASSERT_TRUE(run_until([&] { return gone > 0; }));
  uv_run(&loop_, UV_RUN_NOWAIT);
  EXPECT_EQ(gone, 1);
}

TEST_F(InotifyWatcherTest, ALinkIsNeverWatchedThrough) {
  testing::TempDir other;
  fs::create_directory_symlink(other.path(), dir_.path() + "/link");
  auto id = watcher_->add(
      dir_.path() + "/link", [](std::string_view, Watcher::Change) {}, [] {});
  EXPECT_FALSE(id);
}

TEST_F(InotifyWatcherTest, AMissingDirectoryIsNotFound) {
  auto id = watcher_->add(
      dir_.path() + "/nope", [](std::string_view, Watcher::Change) {}, [] {});
  ASSERT_FALSE(id);
  EXPECT_EQ(id.error().code, core::ErrorCode::NotFound);
}

}  // namespace
}  // namespace medic::watch
