// BoardSet on a real loop, a real inotify watcher and real boards with Hermes's schema,
// laid out as Hermes lays them out (kanban_db.py at aaf96885): the default board at the
// root and a named board made later are both followed; logs already in a logs dir and
// logs written later are handed on by their live log's name; a logs dir that is a link
// is refused and never listed; a board whose directory goes away is dropped, and read
// from its first event when it comes back.
#include "kanban/board_set.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "integration/process.h"
#include "support/hermes_board.h"
#include "support/run_loop.h"
#include "watch/inotify_watcher.h"

namespace medic::kanban {
namespace {

namespace fs = std::filesystem;
using testing::HermesBoard;
using testing::run_until;
using testing::TempDir;

class BoardSetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    root_ = dir_.path() + "/hermes";
    fs::create_directories(root_ + "/kanban/boards");
    root_fd_ = ::open(root_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ASSERT_GE(root_fd_, 0);
    auto w = watch::InotifyWatcher::create(&loop_);
    ASSERT_TRUE(w);
    watcher_ = std::move(*w);
  }
  void TearDown() override {
    set_.reset();
    watcher_.reset();
    ::close(root_fd_);
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  void start() {
    set_ = std::make_unique<BoardSet>(
        &loop_, *watcher_, root_, root_fd_, std::map<std::string, std::int64_t>{},
        BoardSet::Callbacks{
            [this](BoardSet::Board& b, const KanbanEvent& e) {
              events_.push_back(b.slug + ":" + e.task_id + ":" + e.kind);
            },
            [](BoardSet::Board&) {},
            [this](BoardSet::Board& b, BoardReader& r) {
              first_cursor_.push_back(b.slug);
              auto last = r.last_event_id();
              return last ? *last : 0;
            },
            [] {},
            [this](BoardSet::Board& b, const std::string& name, bool) { logs_.insert(b.slug + ":" + name); },
            [this](BoardSet::Board& b) { dropped_.push_back(b.slug); },
            [this](const std::string& key, const std::string&) { refused_.push_back(key); },
            {}});
    set_->rescan();
  }
  // A task as `hermes kanban create` makes it: the row and its "created" event.
  static void add_task(HermesBoard& board, const std::string& id) {
    board.create_task(id, "title", "w");
    board.event(id, std::nullopt, "created", "{}", 1780000000);
  }
  // A named board "ops" holding one task ("t_first"), there before the set starts.
  void start_with_ops_board() {
    fs::create_directories(root_ + "/kanban/boards/ops/logs");
    {
      HermesBoard ops(root_ + "/kanban/boards/ops/kanban.db");
      add_task(ops, "t_first");
    }
    start();
    ASSERT_NE(set_->find("ops"), nullptr);
  }
  bool saw_event(const std::string& what) {
    for (const auto& e : events_) {
      if (e == what) return true;
    }
    return false;
  }

  uv_loop_t loop_{};
  TempDir dir_;
  std::string root_;
  int root_fd_ = -1;
  watch::WatcherPtr watcher_;
  std::unique_ptr<BoardSet> set_;
  std::vector<std::string> events_;
  std::vector<std::string> first_cursor_;
  std::set<std::string> logs_;
  std::vector<std::string> dropped_;
  std::vector<std::string> refused_;
};

TEST_F(BoardSetTest, TheDefaultBoardAndANamedBoardMadeLaterAreBothFollowed) {
  HermesBoard main_board(root_ + "/kanban.db");
  add_task(main_board, "t_old");
  start();
  ASSERT_NE(set_->find("default"), nullptr);
  EXPECT_EQ(set_->find("ops"), nullptr);
  // The named board appears after the start, as `hermes kanban boards create ops` makes it.
  fs::create_directories(root_ + "/kanban/boards/ops");
  ASSERT_TRUE(run_until(&loop_, [&] { return set_->find("ops") != nullptr; }));
  HermesBoard ops(root_ + "/kanban/boards/ops/kanban.db");
  add_task(ops, "t_ops");
  add_task(main_board, "t_new");
  ASSERT_TRUE(run_until(&loop_, [&] { return saw_event("default:t_new:created"); }));
  EXPECT_FALSE(saw_event("default:t_old:created")) << "a board seen for the first time starts at first_cursor";
  // The ops board had no database when it was found: its first events are all new.
  ASSERT_TRUE(run_until(&loop_, [&] { return saw_event("ops:t_ops:created"); }));
  EXPECT_EQ(set_->size(), 2u);
  EXPECT_EQ(set_->cursors().count("default"), 1u);
}

TEST_F(BoardSetTest, LogsAlreadyThereAndWrittenLaterGoOutByTheirLiveLogName) {
  HermesBoard main_board(root_ + "/kanban.db");
  fs::create_directories(root_ + "/kanban/logs");
  std::ofstream(root_ + "/kanban/logs/t_a.log") << "before the start\n";
  start();
  EXPECT_EQ(logs_.count("default:t_a.log"), 1u) << "a log written while medic was down is listed at the start";
  std::ofstream(root_ + "/kanban/logs/t_b.log.1") << "rotated\n";
  ASSERT_TRUE(run_until(&loop_, [&] { return logs_.count("default:t_b.log") == 1; }));
  EXPECT_EQ(logs_.count("default:t_b.log.1"), 0u) << "a rotated log is handed on as its live log";
}

TEST_F(BoardSetTest, ALogsDirThatIsALinkIsRefusedAndNeverListed) {
  HermesBoard main_board(root_ + "/kanban.db");
  TempDir elsewhere;
  std::ofstream(elsewhere.path() + "/t_x.log") << "not Hermes's\n";
  fs::create_directory_symlink(elsewhere.path(), root_ + "/kanban/logs");
  start();
  EXPECT_TRUE(logs_.empty()) << "a log behind a linked logs dir was handed on";
  ASSERT_EQ(refused_.size(), 1u);
  EXPECT_EQ(refused_[0], "logs:" + root_ + "/kanban/logs");
  EXPECT_FALSE(set_->find("default")->logs_fd);
}

TEST_F(BoardSetTest, ABoardThatGoesAwayIsDroppedAndReadFromItsFirstEventWhenBack) {
  HermesBoard main_board(root_ + "/kanban.db");
  ASSERT_NO_FATAL_FAILURE(start_with_ops_board());
  EXPECT_EQ(first_cursor_, (std::vector<std::string>{"default", "ops"}));
  EXPECT_FALSE(saw_event("ops:t_first:created"));
  fs::remove_all(root_ + "/kanban/boards/ops");
  ASSERT_TRUE(run_until(&loop_, [&] { return !dropped_.empty(); }));
  EXPECT_EQ(dropped_, (std::vector<std::string>{"ops"}));
  EXPECT_EQ(set_->find("ops"), nullptr);
  // Made anew (`hermes kanban boards rm` then `create`): every event of the new board is new.
  fs::create_directories(root_ + "/kanban/boards/ops");
  HermesBoard again(root_ + "/kanban/boards/ops/kanban.db");
  add_task(again, "t_second");
  ASSERT_TRUE(run_until(&loop_, [&] { return saw_event("ops:t_second:created"); }));
  EXPECT_EQ(first_cursor_.size(), 2u) << "a board made anew started at first_cursor, skipping its first events";
}

// `hermes kanban boards rm` archives by default: it renames the board's directory to
// kanban/boards/_archived/<slug>-<time> (hermes_cli/kanban_db.py:852-892 at aaf96885).
// The board is dropped, and the archive, one of Hermes's own directories, is no board.
TEST_F(BoardSetTest, ABoardArchivedByHermesIsDroppedAndItsArchiveIsNoBoard) {
  HermesBoard main_board(root_ + "/kanban.db");
  ASSERT_NO_FATAL_FAILURE(start_with_ops_board());
  fs::create_directories(root_ + "/kanban/boards/_archived");
  fs::rename(root_ + "/kanban/boards/ops", root_ + "/kanban/boards/_archived/ops-1780000000");
  ASSERT_TRUE(run_until(&loop_, [&] { return !dropped_.empty(); }));
  EXPECT_EQ(dropped_, (std::vector<std::string>{"ops"}));
  EXPECT_EQ(set_->size(), 1u) << "the archive was taken for a board";
  EXPECT_TRUE(refused_.empty()) << refused_.front();
}

}  // namespace
}  // namespace medic::kanban
