// Hermes's board layout on a real directory tree: the default board and each board under
// kanban/boards/, Hermes's own directories skipped, links and bad slugs refused (with a
// key per name, so each is logged once), and the names a board and a logs dir commit
// through.
#include "kanban/board_layout.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "core/unique_fd.h"
#include "integration/process.h"

namespace medic::kanban {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

TEST(BoardLayoutTest, ListsTheDefaultBoardAndEachValidBoardDirectory) {
  TempDir root;
  for (const char* d : {"kanban/boards/ops", "kanban/boards/research-2", "kanban/boards/_archive", "kanban/boards/.tmp",
                        "kanban/boards/default", "kanban/boards/Bad Slug"}) {
    fs::create_directories(root.path() + "/" + d);
  }
  root.file("kanban/boards/notes.txt", "not a board");
  TempDir outside;
  fs::create_directory_symlink(outside.path(), root.path() + "/kanban/boards/escape");
  core::UniqueFd fd(::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(fd);

  const BoardList list = list_boards(fd.get(), root.path());
  ASSERT_EQ(list.boards.size(), 3u);
  EXPECT_EQ(list.boards[0].slug, "default");
  EXPECT_EQ(list.boards[0].dir, root.path());
  EXPECT_EQ(list.boards[0].logs_rel, "kanban/logs");
  std::vector<std::string> slugs;
  for (const auto& b : list.boards) slugs.push_back(b.slug);
  EXPECT_NE(std::find(slugs.begin(), slugs.end(), "ops"), slugs.end());
  EXPECT_NE(std::find(slugs.begin(), slugs.end(), "research-2"), slugs.end());
  for (const auto& b : list.boards) {
    if (b.slug == "ops") {
      EXPECT_EQ(b.dir, root.path() + "/kanban/boards/ops");
      EXPECT_EQ(b.logs_rel, "kanban/boards/ops/logs");
    }
  }
  ASSERT_EQ(list.refused.size(), 2u);
  std::vector<std::string> keys;
  for (const auto& r : list.refused) keys.push_back(r.key);
  std::sort(keys.begin(), keys.end());
  EXPECT_EQ(keys[0], "board-link:escape");
  EXPECT_EQ(keys[1], "board:Bad Slug");
}

TEST(BoardLayoutTest, ARootWithoutBoardsHasOnlyTheDefaultBoard) {
  TempDir root;
  core::UniqueFd fd(::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const BoardList list = list_boards(fd.get(), root.path());
  ASSERT_EQ(list.boards.size(), 1u);
  EXPECT_EQ(list.boards[0].slug, "default");
  EXPECT_TRUE(list.refused.empty());
}

TEST(BoardLayoutTest, AKanbanBoardsDirThatIsALinkIsNotFollowed) {
  TempDir root;
  TempDir outside;
  fs::create_directories(outside.path() + "/ops");
  fs::create_directories(root.path() + "/kanban");
  fs::create_directory_symlink(outside.path(), root.path() + "/kanban/boards");
  core::UniqueFd fd(::open(root.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  const BoardList list = list_boards(fd.get(), root.path());
  EXPECT_EQ(list.boards.size(), 1u);
  ASSERT_EQ(list.refused.size(), 1u) << "a linked boards dir was left unread without a word";
  EXPECT_NE(list.refused[0].message.find(root.path() + "/kanban/boards refused"), std::string::npos)
      << list.refused[0].message;
}

TEST(BoardLayoutTest, NamesABoardCommitsThroughAndTheLiveLogOfARotatedOne) {
  EXPECT_TRUE(is_board_file("kanban.db"));
  EXPECT_TRUE(is_board_file("kanban.db-wal"));
  EXPECT_TRUE(is_board_file("kanban.db-journal"));
  EXPECT_FALSE(is_board_file("kanban.db-shm"));  // the WAL index: written without a commit
  EXPECT_FALSE(is_board_file("kanban.db.bak"));
  EXPECT_EQ(live_log_name("t_a.log.1"), "t_a.log");
  EXPECT_EQ(live_log_name("t_a.log"), "t_a.log");
  EXPECT_EQ(live_log_name("notes"), "notes");
}

}  // namespace
}  // namespace medic::kanban
