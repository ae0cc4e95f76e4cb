// Nothing lost under faults (issue 11), end to end on the real binary: damaged state,
// missed notifications, replaced directories, rotations and a locked board. The slow
// cases (a full disk, an inotify queue forced small) are scripts under tests/faults/.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "integration/daemon_harness.h"

namespace medic {
namespace {

namespace fs = std::filesystem;
using testing::DaemonHarness;
using testing::SocketClient;
using namespace std::chrono_literals;

std::string only_segment(const std::string& state) {
  for (const auto& e : fs::directory_iterator(state + "/journal")) {
    if (e.path().extension() == ".ndjson") return e.path().string();
  }
  return {};
}

TEST(FaultTest, ATornJournalLineIsCutKeptAsideAndTheDaemonGoesOn) {
  DaemonHarness h;
  h.start();
  {
    SocketClient c(h.socket(), 0);
    h.start_task("t_one");
    h.append("t_one", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
    ASSERT_TRUE(c.next_of("decision")) << h.daemon_log();
  }
  h.stop();
  // A full disk mid-write leaves half a line.
  std::ofstream(only_segment(h.state()), std::ios::app) << R"({"type":"decision","seq":2,"id":"defa)";
  h.start();
  SocketClient c(h.socket(), 0);
  h.start_task("t_two");
  h.append("t_two", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  std::vector<std::int64_t> seqs;
  while (auto m = c.next(1500ms)) {
    if (m->type != "hello") seqs.push_back(m->num("seq"));
  }
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{1, 2})) << "gap-free across the cut";
  EXPECT_NE(h.daemon_log().find("damaged (a torn last line (no newline)): 37 bytes cut, kept in"), std::string::npos)
      << h.daemon_log();
}

// Issue 11 item 2: a damaged checkpoint costs neither a false decision for a live run nor
// the decision of a run that ended while medic was down.
TEST(FaultTest, AGarbageCheckpointIsRebuiltFromTheJournalAndTheBoard) {
  DaemonHarness h;
  h.start();
  {
    SocketClient c(h.socket(), 0);
    h.start_task("t_first");
    h.append("t_first", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
    ASSERT_TRUE(c.next_of("decision")) << h.daemon_log();
  }
  h.stop();
  std::ofstream(h.state() + "/state.json", std::ios::trunc) << "{\"boards\": {\"default\": 4";
  // While medic is down: a live run whose log still holds an earlier run's end, and a run
  // that ends, with Hermes's event.
  h.start_task("t_live");
  h.append("t_live", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\nworking on run 2...\n");
  const auto run = h.start_task("t_ended");
  h.append("t_ended", "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=1\n");
  h.board().event("t_ended", run, "crashed", R"({"pid":999999,"exit_code":1})", DaemonHarness::now());
  h.start();
  SocketClient c(h.socket(), 1);
  auto d = c.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("task_id"), "t_ended") << d->raw;
  EXPECT_EQ(d->str("class"), "timeout") << "its evidence came from the log written while medic was down";
  EXPECT_FALSE(c.next_of("decision", 1500ms)) << "no decision for the live run: " << h.daemon_log();
  EXPECT_NE(h.daemon_log().find("checkpoint unreadable"), std::string::npos);
  // The live run is still followed: its exit is decided when it comes.
  h.append("t_live", "   📝 Error: Connection error.\n[kanban-worker-exit] rc=1\n");
  auto live = c.next_of("decision");
  ASSERT_TRUE(live) << h.daemon_log();
  EXPECT_EQ(live->str("task_id"), "t_live");
  EXPECT_EQ(live->str("class"), "connection") << live->raw;
}

// Issue 11 item 7: a decision the log alone can make does not wait for a board another
// process holds locked; an rc=0 exit, which needs the board, is decided once it is free.
TEST(FaultTest, ALockedBoardDelaysNoDecisionTheLogCanMake) {
  DaemonHarness h;
  h.board().exec("PRAGMA journal_mode=DELETE");
  h.start("trace");  // each event read, and each exit that waits for the board, is logged
  SocketClient c(h.socket(), 0);
  h.start_task("t_locked");
  h.start_task("t_clean");
  ASSERT_TRUE(h.wait_for_log("kind=claimed task=t_clean")) << h.daemon_log();  // both claims read
  // The test's own connection is another process's to medic: it takes the board's lock.
  h.board().exec("BEGIN EXCLUSIVE");
  h.board().exec("UPDATE tasks SET priority = 1 WHERE id = 't_locked'");
  h.append("t_locked", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto d = c.next_of("decision", 3000ms);
  ASSERT_TRUE(d) << "not decided while the board was locked: " << h.daemon_log();
  EXPECT_EQ(d->str("task_id"), "t_locked");
  // rc=0 needs the board (was there a kanban_complete?): it waits for the lock.
  h.append("t_clean", "[kanban-worker-exit] rc=0\n");
  ASSERT_TRUE(h.wait_for_log("task=t_clean rc=0 waits for board=default (locked)")) << h.daemon_log();
  // A decision made before the exit was deferred would be in the socket already (the
  // daemon writes it before it logs the wait).
  EXPECT_FALSE(c.next_of("decision", 100ms)) << "an rc=0 exit was decided without the board";
  h.board().exec("COMMIT");
  auto clean = c.next_of("decision", 5000ms);
  ASSERT_TRUE(clean) << h.daemon_log();
  EXPECT_EQ(clean->str("task_id"), "t_clean");
  EXPECT_EQ(clean->str("class"), "protocol_violation");
}

// A worker that fails at once: its exit trailer lands while the claim that names its run
// is behind another process's lock. The exit waits for the board instead of being dropped
// as "a task with no known run".
TEST(FaultTest, AnExitBeforeItsClaimIsReadWaitsForTheBoard) {
  DaemonHarness h;
  h.board().exec("PRAGMA journal_mode=DELETE");
  h.start("debug");  // an exit that waits for its claim is logged
  SocketClient c(h.socket(), 0);
  ASSERT_TRUE(h.wait_for_log("medic running")) << h.daemon_log();
  h.board().exec("BEGIN EXCLUSIVE");
  h.start_task("t_fast");
  h.append("t_fast", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  // The trailer is read while the board is locked.
  ASSERT_TRUE(h.wait_for_log("task=t_fast rc=1 waits for its claim on board=default")) << h.daemon_log();
  h.board().exec("COMMIT");
  auto d = c.next_of("decision", 5000ms);
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("task_id"), "t_fast");
  EXPECT_EQ(d->str("class"), "env_missing") << d->raw;
  EXPECT_NE(d->raw.find("\"seen_by\":\"trailer\""), std::string::npos) << d->raw;
}

TEST(FaultTest, ALogsDirDeletedAndMadeAgainIsFollowedAgain) {
  DaemonHarness h;
  h.start("debug");  // each directory watched is logged
  SocketClient c(h.socket(), 0);
  fs::remove_all(h.root() + "/kanban/logs");
  // (medic's own descriptor pins the deleted dir, so its parent's watch reports it)
  ASSERT_TRUE(h.wait_for_log("logs dir=" + h.root() + "/kanban/logs was deleted or replaced")) << h.daemon_log();
  fs::create_directories(h.root() + "/kanban/logs");
  ASSERT_TRUE(h.wait_for_log("watching dir=" + h.root() + "/kanban/logs", 2)) << h.daemon_log();
  h.start_task("t_back");
  h.append("t_back", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto d = c.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "env_missing") << d->raw;
}

TEST(FaultTest, ALogsDirReplacedByALinkIsRefusedNotFollowed) {
  DaemonHarness h;
  h.start();
  SocketClient c(h.socket(), 0);
  testing::TempDir victim;
  victim.file("t_link.log", "db_password=hunter2 Error: Unknown skill(s): x\n[kanban-worker-exit] rc=1\n");
  fs::remove_all(h.root() + "/kanban/logs");
  fs::create_directory_symlink(victim.path(), h.root() + "/kanban/logs");
  const auto run = h.start_task("t_link");
  h.board().event("t_link", run, "crashed", R"({"pid":1,"exit_code":1})", DaemonHarness::now());
  auto d = c.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->raw.find("hunter2"), std::string::npos) << d->raw;
  EXPECT_TRUE(h.wait_for_log("logs dir=" + h.root() + "/kanban/logs refused")) << h.daemon_log();
}

TEST(FaultTest, ABoardDeletedAndMadeAgainIsReadFromItsFirstEvent) {
  DaemonHarness h;
  const std::string dir = h.root() + "/kanban/boards/ops";
  fs::create_directories(dir + "/logs");
  { testing::HermesBoard first(dir + "/kanban.db"); }
  h.start();
  SocketClient c(h.socket(), 0);
  fs::remove_all(dir);
  ASSERT_TRUE(h.wait_for_log("board=ops went away")) << h.daemon_log();
  fs::create_directories(dir + "/logs");
  testing::HermesBoard ops(dir + "/kanban.db");
  ops.create_task("t_ops", "again", "ops");
  ops.claim("t_ops", DaemonHarness::now());
  std::ofstream(dir + "/logs/t_ops.log") << "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n";
  auto d = c.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("board"), "ops");
  EXPECT_EQ(d->num("run_id"), 1);
}

TEST(FaultTest, BytesWrittenToARenamedLogAreStillRead) {
  DaemonHarness h;
  h.start();
  SocketClient c(h.socket(), 0);
  const auto run = h.start_task("t_rot");
  const int writer = ::open(h.log_path("t_rot").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  ASSERT_GE(writer, 0);
  (void)!::write(writer, "working\n", 8);
  ASSERT_TRUE(h.wait_until_read("t_rot")) << h.daemon_log();
  fs::rename(h.log_path("t_rot"), h.log_path("t_rot") + ".1");  // rotated under the worker
  // Time for medic to see the rename first (the daemon logs nothing there to wait for);
  // if it sees it only after the write below, the late bytes are read all the same.
  std::this_thread::sleep_for(200ms);
  const std::string late = "   📝 Error: Request timed out.\n";
  (void)!::write(writer, late.data(), late.size());
  ::close(writer);
  // The crashed event makes medic read the log to its end before it decides.
  h.board().event("t_rot", run, "crashed", R"({"pid":1,"exit_code":1})", DaemonHarness::now());
  auto d = c.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "timeout") << "the line written after the rename is the evidence: " << d->raw;
}

}  // namespace
}  // namespace medic
