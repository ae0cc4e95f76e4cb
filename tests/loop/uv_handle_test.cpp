#include "loop/uv_handle.h"

#include <gtest/gtest.h>

#include "loop/handles.h"

namespace medic::loop {
namespace {

// A UvHandle that outlives its loop's close_loop: close_loop closes it (and says so), and
// the UvHandle frees it when it goes; under ASan (LeakSanitizer) a leak fails this test.
TEST(UvHandleTest, AHandleClosedByCloseLoopIsFreedByItsOwner) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int owner = 0;
  auto timer = make_timer(&loop, &owner);
  ASSERT_TRUE(timer);
  ASSERT_TRUE(start_timer(
      *timer, [](uv_timer_t*) {}, 60000));
  EXPECT_EQ(close_loop(&loop), 1u) << "the timer was still open";
  EXPECT_EQ(timer->get()->data, closed_by_close_loop());
  timer->reset();
  EXPECT_FALSE(*timer);
}

TEST(UvHandleTest, AHandleItsOwnerClosedIsNotCountedByCloseLoop) {
  uv_loop_t loop;
  ASSERT_EQ(uv_loop_init(&loop), 0);
  int owner = 0;
  auto timer = make_timer(&loop, &owner);
  ASSERT_TRUE(timer);
  timer->reset();  // closed through its own callback, which frees it
  EXPECT_EQ(close_loop(&loop), 0u);
}

TEST(UvHandleTest, AHandleNeverInitialisedIsFreedWithoutTheLoop) {
  int owner = 0;
  UvHandle<uv_timer_t> h(&owner);
  EXPECT_TRUE(h);
  EXPECT_EQ(h.get()->data, &owner);
  h.reset();
  EXPECT_FALSE(h);
}

}  // namespace
}  // namespace medic::loop
