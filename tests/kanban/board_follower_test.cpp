// BoardFollower on a real loop and a real board with Hermes's schema (WAL mode, written
// by another connection as Hermes writes it): events go out in id order and move the
// cursor; a board seen for the first time starts where first_cursor says, unless its
// database was made while it was followed (then at its first event); a commit that
// lands after the notification is still seen, by the settle series; a kanban.db made anew
// under the same name is read from its first event.
#include "kanban/board_follower.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <vector>

#include "integration/process.h"
#include "support/hermes_board.h"
#include "support/run_loop.h"

namespace medic::kanban {
namespace {

using namespace std::chrono_literals;
using testing::HermesBoard;
using testing::run_until;
using testing::TempDir;

class BoardFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    db_path_ = dir_.path() + "/kanban.db";
  }
  void TearDown() override {
    follower_.reset();
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  // `cursor`: as the daemon passes it (-1: first_cursor decides; 0: every event).
  void follow(std::int64_t cursor) {
    follower_ = std::make_unique<BoardFollower>(
        &loop_, "default", db_path_, cursor, reading_,
        BoardFollower::Callbacks{[this](const KanbanEvent& e) { seen_.push_back(e); }, [this] { ++caught_up_; },
                                 [this](BoardReader& r) {
                                   ++first_cursor_calls_;
                                   auto last = r.last_event_id();
                                   return last ? *last : 0;
                                 },
                                 [this] { ++moved_; }});
  }

  uv_loop_t loop_{};
  TempDir dir_;
  std::string db_path_;
  bool reading_ = false;
  std::unique_ptr<BoardFollower> follower_;
  std::vector<KanbanEvent> seen_;
  int caught_up_ = 0;
  int first_cursor_calls_ = 0;
  int moved_ = 0;
};

TEST_F(BoardFollowerTest, EventsGoOutInIdOrderAndMoveTheCursor) {
  HermesBoard board(db_path_);
  board.create_task("t_a", "a", "w");
  const std::int64_t run = board.claim("t_a", 1780000000);
  board.event("t_a", run, "heartbeat", "{}", 1780000001);
  board.event("t_a", run, "completed", "{\"summary\":\"done\"}", 1780000002);
  follow(0);
  follower_->notified();
  ASSERT_TRUE(run_until(&loop_, [&] { return caught_up_ > 0; }));
  ASSERT_GE(seen_.size(), 3u);  // created, claimed, heartbeat, completed (Hermes's own kinds)
  for (std::size_t i = 1; i < seen_.size(); ++i) EXPECT_LT(seen_[i - 1].id, seen_[i].id);
  EXPECT_EQ(seen_.back().kind, "completed");
  EXPECT_EQ(follower_->cursor(), seen_.back().id);
  EXPECT_TRUE(follower_->read_complete());
  EXPECT_EQ(first_cursor_calls_, 0) << "a saved cursor is used as it is";
}

TEST_F(BoardFollowerTest, ABoardSeenForTheFirstTimeStartsWhereFirstCursorSays) {
  HermesBoard board(db_path_);
  board.create_task("t_old", "old", "w");
  board.event("t_old", std::nullopt, "commented", "{}", 1780000000);
  follow(-1);
  follower_->read();
  EXPECT_EQ(first_cursor_calls_, 1);
  EXPECT_TRUE(seen_.empty()) << "events before the first start are history";
  board.event("t_old", std::nullopt, "blocked", "{\"reason\":\"x\"}", 1780000010);
  follower_->notified();
  ASSERT_TRUE(run_until(&loop_, [&] { return !seen_.empty(); }));
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].kind, "blocked");
}

TEST_F(BoardFollowerTest, ABoardWhoseDatabaseIsMadeWhileFollowedIsReadFromItsFirstEvent) {
  follow(-1);
  follower_->read();  // no kanban.db yet: Hermes has not made the board
  EXPECT_EQ(follower_->reader(), nullptr);
  HermesBoard board(db_path_);
  board.create_task("t_a", "a", "w");  // made and used before the follower's next read
  board.event("t_a", std::nullopt, "created", "{}", 1780000000);
  follower_->read();
  EXPECT_EQ(first_cursor_calls_, 0) << "a database made while followed holds only new events";
  ASSERT_FALSE(seen_.empty());
  EXPECT_EQ(seen_[0].task_id, "t_a");
  EXPECT_EQ(seen_[0].kind, "created");
}

TEST_F(BoardFollowerTest, ACommitAfterTheNotificationIsSeenByTheSettleSeries) {
  HermesBoard board(db_path_);
  board.create_task("t_a", "a", "w");
  follow(0);
  follower_->notified();  // reads now, then 5, 25, 100, 400 and 1600 ms later
  ASSERT_TRUE(run_until(&loop_, [&] { return caught_up_ > 0; }));
  const std::size_t before = seen_.size();
  // The commit lands 50 ms later and nothing notifies the follower of it.
  uv_timer_t later;
  uv_timer_init(&loop_, &later);
  later.data = &board;
  uv_timer_start(
      &later,
      [](uv_timer_t* t) {
        static_cast<HermesBoard*>(t->data)->event("t_a", std::nullopt, "gave_up", "{}", 1780000020);
      },
      50, 0);
  const bool seen = run_until(
      &loop_, [&] { return seen_.size() > before; }, 3000ms);
  uv_close(reinterpret_cast<uv_handle_t*>(&later), nullptr);
  uv_run(&loop_, UV_RUN_NOWAIT);  // the close completes before `later` leaves scope
  ASSERT_TRUE(seen) << "the settle series did not read the board again";
  EXPECT_EQ(seen_.back().kind, "gave_up");
}

TEST_F(BoardFollowerTest, AKanbanDbMadeAnewIsReadFromItsFirstEvent) {
  {
    HermesBoard board(db_path_);
    board.create_task("t_a", "a", "w");
    board.event("t_a", std::nullopt, "commented", "{}", 1780000000);
  }
  follow(0);
  follower_->read();
  ASSERT_FALSE(seen_.empty());
  const std::int64_t old_cursor = follower_->cursor();
  const int moved_before = moved_;
  {
    // A board restored from elsewhere: written in full (its last close checkpoints the
    // WAL), then renamed over kanban.db (a new inode; deleting and creating in place may
    // reuse the old inode's number).
    HermesBoard fresh(db_path_ + ".restored");
    fresh.create_task("t_b", "b", "w");
    fresh.event("t_b", std::nullopt, "commented", "{}", 1780000030);
  }
  for (const char* suffix : {"-wal", "-shm"}) std::remove((db_path_ + suffix).c_str());
  ASSERT_EQ(std::rename((db_path_ + ".restored").c_str(), db_path_.c_str()), 0);
  seen_.clear();
  follower_->read();
  ASSERT_FALSE(seen_.empty()) << "the new board's events were not read";
  EXPECT_EQ(seen_.front().task_id, "t_b");
  EXPECT_LE(seen_.front().id, old_cursor) << "the new board was read from the old cursor";
  EXPECT_GT(moved_, moved_before);
}

}  // namespace
}  // namespace medic::kanban
