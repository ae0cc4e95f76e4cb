// RuleReloader on a real loop and libuv's real threadpool: requests that come while a
// compile runs are folded into one more compile after it, and the set handed back last is
// the one compiled from the newest state on disk (last writer wins).
#include "app/rule_reloader.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <string>
#include <vector>

#include "support/run_loop.h"

namespace medic::app {
namespace {

using testing::run_until;

TEST(RuleReloaderTest, RequestsDuringACompileMakeOneMoreCompileOfTheNewest) {
  uv_loop_t loop{};
  uv_loop_init(&loop);
  std::atomic<int> version{1};  // what is on disk
  std::atomic<int> compiles{0};
  std::promise<void> first_started, release_first;
  std::shared_future<void> released = release_first.get_future().share();
  std::vector<std::string> loaded;
  {
    RuleReloader reloader(
        &loop,
        [&] {
          LoadedRules r;
          r.origin = std::to_string(version.load());  // the compile reads the files as they are now
          if (compiles.fetch_add(1) == 0) {
            first_started.set_value();
            released.wait();  // a compile that takes a while
          }
          return r;
        },
        [&](LoadedRules r) { loaded.push_back(r.origin); });
    reloader.request();
    first_started.get_future().wait();
    // Three edits land while the first compile runs.
    for (int v : {2, 3, 4}) {
      version = v;
      reloader.request();
    }
    EXPECT_TRUE(reloader.busy());
    release_first.set_value();
    ASSERT_TRUE(run_until(&loop, [&] { return loaded.size() == 2 && !reloader.busy(); }));
    EXPECT_EQ(compiles.load(), 2) << "the requests during a compile were not folded into one";
    EXPECT_EQ(loaded, (std::vector<std::string>{"1", "4"})) << "the set left running is not the newest";
  }
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

// At the daemon's stop: a compile still running hands back nothing (the daemon is being
// torn down), and no request starts another.
TEST(RuleReloaderTest, AStoppedReloaderHandsBackNothingAndCompilesNoMore) {
  uv_loop_t loop{};
  uv_loop_init(&loop);
  std::atomic<int> compiles{0};
  std::promise<void> started, release;
  std::shared_future<void> released = release.get_future().share();
  int loaded = 0;
  {
    RuleReloader reloader(
        &loop,
        [&] {
          if (compiles.fetch_add(1) == 0) {
            started.set_value();
            released.wait();
          }
          return LoadedRules{};
        },
        [&](LoadedRules) { ++loaded; });
    reloader.request();
    started.get_future().wait();
    reloader.request();  // an edit during the compile
    reloader.stop();
    reloader.request();  // and one after the stop
    release.set_value();
    ASSERT_TRUE(run_until(&loop, [&] { return !reloader.busy(); }));
    EXPECT_EQ(loaded, 0) << "a compile finished after the stop was handed back";
    EXPECT_EQ(compiles.load(), 1) << "a compile started after the stop";
  }
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {
  }
  EXPECT_EQ(uv_loop_close(&loop), 0);
}

}  // namespace
}  // namespace medic::app
