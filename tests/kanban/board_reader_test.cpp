#include "kanban/board_reader.h"

#include <gtest/gtest.h>

#include <fstream>

#include "integration/process.h"
#include "support/hermes_board.h"

namespace medic::kanban {
namespace {

class BoardReaderTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  std::string db_ = dir_.path() + "/kanban.db";
};

TEST_F(BoardReaderTest, ReadsEventsAfterTheCursorInIdOrder) {
  testing::HermesBoard board(db_);
  board.create_task("t_1", "research", "researcher");
  const auto run = board.claim("t_1", 100);
  board.event("t_1", run, "spawned", R"({"pid":4242,"started_at":101})", 101);
  board.event("t_1", run, "crashed", R"({"pid":4242,"claimer":"h:1","exit_code":1})", 150);
  auto reader = BoardReader::open(db_);
  ASSERT_TRUE(reader) << reader.error().message;
  auto all = reader->events_after(0);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].kind, "claimed");
  EXPECT_EQ((*all)[1].kind, "spawned");
  EXPECT_EQ((*all)[1].pid, 4242);
  EXPECT_EQ((*all)[1].started_at, 101);
  EXPECT_EQ((*all)[2].exit_code, 1);
  EXPECT_EQ((*all)[2].run_id, run);
  auto later = reader->events_after((*all)[1].id);
  ASSERT_TRUE(later);
  ASSERT_EQ(later->size(), 1u);
  EXPECT_EQ((*later)[0].kind, "crashed");
  EXPECT_TRUE(is_exit_kind("crashed"));
  EXPECT_FALSE(is_exit_kind("heartbeat"));
}

TEST_F(BoardReaderTest, CountsAMalformedPayloadAndKeepsItsKindAndRun) {
  testing::HermesBoard board(db_);
  board.create_task("t_1", "x", "p");
  board.event("t_1", std::nullopt, "crashed", "{not json", 1);
  board.event("t_1", std::nullopt, "heartbeat", "", 2);
  auto reader = BoardReader::open(db_);
  ASSERT_TRUE(reader);
  auto events = reader->events_after(0);
  ASSERT_TRUE(events);
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].kind, "crashed");
  EXPECT_TRUE((*events)[0].malformed);
  EXPECT_FALSE((*events)[0].pid);
  EXPECT_EQ((*events)[1].kind, "heartbeat");
  EXPECT_FALSE((*events)[1].malformed);
  EXPECT_EQ(reader->bad_payloads(), 1u);
}

TEST_F(BoardReaderTest, ReadsTheTaskRow) {
  testing::HermesBoard board(db_);
  board.create_task("t_1", "research", "researcher", "/w/t_1", "openai-codex");
  const auto run = board.claim("t_1", 100);
  auto reader = BoardReader::open(db_);
  ASSERT_TRUE(reader);
  auto t = reader->task("t_1");
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->assignee, "researcher");
  EXPECT_EQ((*t)->workspace_path, "/w/t_1");
  EXPECT_EQ((*t)->provider_override, "openai-codex");
  EXPECT_EQ((*t)->current_run_id, run);
  EXPECT_EQ((*t)->status, "running");
  auto none = reader->task("t_missing");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

// Statements are prepared once and reused: each read must still see what Hermes wrote
// since the last one (a statement left un-reset would keep its old snapshot), and a
// migration that alters a table must not break the cached statements.
TEST_F(BoardReaderTest, AReusedStatementSeesWhatHermesWroteSinceTheLastRead) {
  testing::HermesBoard board(db_);
  board.create_task("t_1", "research", "researcher");
  const auto first = board.claim("t_1", 100);
  auto reader = BoardReader::open(db_);
  ASSERT_TRUE(reader);
  auto t = reader->task("t_1");
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->last_run_id, first);
  EXPECT_TRUE((*t)->workspace_path.empty());
  auto events = reader->events_after(0);
  ASSERT_TRUE(events);
  const std::size_t seen = events->size();

  board.exec("UPDATE tasks SET workspace_path = '/w/t_1' WHERE id = 't_1'");
  board.exec("ALTER TABLE tasks ADD COLUMN medic_test_extra TEXT");  // a Hermes migration
  board.exec("UPDATE task_runs SET ended_at = 150, outcome = 'crashed' WHERE id = " + std::to_string(first));
  const auto second = board.claim("t_1", 200);
  board.event("t_1", second, "spawned", R"({"pid":7})", 201);

  t = reader->task("t_1");
  ASSERT_TRUE(t && *t) << (t ? "" : t.error().message);
  EXPECT_EQ((*t)->workspace_path, "/w/t_1");
  EXPECT_EQ((*t)->last_run_id, second);
  EXPECT_EQ((*t)->last_run_started_at, 200);
  events = reader->events_after(0);
  ASSERT_TRUE(events);
  EXPECT_GT(events->size(), seen);
  EXPECT_EQ(events->back().kind, "spawned");
}

// The newest run is the one with the highest id, whatever its started_at (Hermes's index on
// task_runs is (task_id, started_at); clocks can step back).
TEST_F(BoardReaderTest, TheLastRunIsTheNewestByIdNotByStartTime) {
  testing::HermesBoard board(db_);
  board.create_task("t_1", "research", "researcher");
  board.claim("t_1", 500);
  const auto newer = board.claim("t_1", 100);  // started "earlier": the clock stepped back
  auto reader = BoardReader::open(db_);
  ASSERT_TRUE(reader);
  auto t = reader->task("t_1");
  ASSERT_TRUE(t && *t);
  EXPECT_EQ((*t)->last_run_id, newer);
  EXPECT_EQ((*t)->last_run_started_at, 100);
}

TEST_F(BoardReaderTest, NeverWritesTheBoard) {
  {
    testing::HermesBoard board(db_);
    board.create_task("t_1", "x", "p", "/w");
    board.claim("t_1", 100);
  }  // closed: Hermes checkpointed its WAL into the db file
  auto bytes = [&](const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), {});
  };
  const std::string before = bytes(db_);
  {
    auto reader = BoardReader::open(db_);
    ASSERT_TRUE(reader);
    ASSERT_TRUE(reader->last_event_id());
    ASSERT_TRUE(reader->events_after(0));
    ASSERT_TRUE(reader->task("t_1"));
  }
  EXPECT_EQ(bytes(db_), before) << "the board file changed";
  EXPECT_EQ(bytes(db_ + "-wal"), "") << "medic wrote to the WAL";
}

TEST_F(BoardReaderTest, FailsClearlyOnAMissingBoard) {
  auto reader = BoardReader::open(dir_.path() + "/nope.db");
  ASSERT_FALSE(reader);
  EXPECT_NE(reader.error().message.find("nope.db"), std::string::npos);
}

}  // namespace
}  // namespace medic::kanban
