// Nothing lost under faults (issue 11), end to end on the real binary: damaged state,
// missed notifications, replaced directories, rotations and a locked board. The slow
// cases (a full disk, an inotify queue forced small) are scripts under tests/faults/.
#include <gtest/gtest.h>
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

}  // namespace
}  // namespace medic
