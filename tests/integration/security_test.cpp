// DESIGN.md §6b end to end: what a worker controls (its log, its workspace, its task's
// fields) and what any member of the socket's group can send never makes the real daemon
// read, write or publish outside the places it was given, hang, or take over another
// daemon. Each test is one case of issue 8 and failed before its fix.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "integration/daemon_harness.h"

namespace medic {
namespace {

namespace fs = std::filesystem;
using testing::DaemonHarness;
using testing::SocketClient;
using testing::TempDir;
using namespace std::chrono_literals;

constexpr const char* kSecret = "db_password=hunter2 Error: Unknown skill(s): kanban-worker\n";

// A decision for `task` after Hermes's `crashed` event for its run (no log needed).
std::optional<testing::Message> crash_and_decide(DaemonHarness& h, SocketClient& client, const std::string& task,
                                                 std::int64_t run) {
  h.board().event(task, run, "crashed", R"({"pid":999999,"claimer":"h:1","exit_code":1})", DaemonHarness::now());
  return client.next_of("decision");
}

TEST(SecurityTest, ALogThatLinksOutOfTheLogsDirIsNeverReadNorPublished) {
  DaemonHarness h;
  TempDir outside;
  const std::string secret = outside.file("shadow", kSecret);
  fs::create_symlink(secret, h.log_path("t_link"));  // there before the daemon starts
  h.start();
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_link");
  auto d = crash_and_decide(h, client, "t_link", run);
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->raw.find("hunter2"), std::string::npos) << d->raw;
  EXPECT_TRUE(d->is_null("evidence")) << d->raw;
  EXPECT_TRUE(h.wait_for_log("t_link.log refused: a symbolic link")) << h.daemon_log();

  // The same with the link made while the daemon runs.
  fs::create_symlink(secret, h.log_path("t_link2"));
  const auto run2 = h.start_task("t_link2");
  auto d2 = crash_and_decide(h, client, "t_link2", run2);
  ASSERT_TRUE(d2) << h.daemon_log();
  EXPECT_EQ(d2->raw.find("hunter2"), std::string::npos) << d2->raw;
}

TEST(SecurityTest, AFifoLogNeverBlocksTheDaemon) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  ASSERT_EQ(::mkfifo(h.log_path("t_fifo").c_str(), 0644), 0);
  fs::create_symlink(h.log_path("t_fifo"), h.log_path("t_fifolink"));
  h.start_task("t_fifo");
  h.start_task("t_fifolink");
  // The daemon still answers and decides another task's exit.
  h.start_task("t_after");
  h.append("t_after", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("task_id"), "t_after");
  SocketClient late(h.socket());
  auto hello = late.next(2000ms);
  ASSERT_TRUE(hello) << h.daemon_log();
  EXPECT_EQ(hello->type, "hello");
  EXPECT_TRUE(h.wait_for_log("t_fifo.log refused: a FIFO")) << h.daemon_log();
  EXPECT_TRUE(h.wait_for_log("t_fifolink.log refused: a symbolic link")) << h.daemon_log();
}

TEST(SecurityTest, ATaskIdThatIsAPathIsNeverMadeIntoOne) {
  DaemonHarness h;
  fs::create_directories(h.dir() + "/outside");
  const std::string planted = h.dir() + "/outside/pwn.log";
  { std::ofstream(planted) << kSecret; }
  h.start();
  SocketClient client(h.socket(), 0);
  const std::string evil = "../../../outside/pwn";
  h.board().create_task(evil, "evil", "researcher");
  const auto run = h.board().claim(evil, DaemonHarness::now());
  h.board().event(evil, run, "crashed", R"({"pid":1,"exit_code":1})", DaemonHarness::now());
  h.board().event("-h", std::nullopt, "crashed", R"({"pid":1,"exit_code":1})", DaemonHarness::now());
  // A good task after them is still decided, and nothing names the bad ones.
  h.start_task("t_good");
  h.append("t_good", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("task_id"), "t_good");
  EXPECT_FALSE(client.next_of("decision", 500ms));
  EXPECT_TRUE(h.wait_for_log("refused: task id is not a Hermes task id", 2)) << h.daemon_log();
  EXPECT_EQ(h.daemon_log().find("hunter2"), std::string::npos);
}

TEST(SecurityTest, AWorkspaceOfSlashIsRefusedAndNothingIsWrittenThere) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  h.board().create_task("t_root", "root", "researcher", "/");
  h.board().claim("t_root", DaemonHarness::now() - 5);
  h.append("t_root", "[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  const auto checked = d->strings("checked");
  ASSERT_FALSE(checked.empty()) << d->raw;
  EXPECT_NE(checked.front().find("refused: the workspace / is outside the allowed workspace roots"), std::string::npos)
      << d->raw;
  EXPECT_NE(d->raw.find("refused: the state report in /:"), std::string::npos) << d->raw;
  EXPECT_NE(d->str("action"), "complete");
  h.stop();  // reports are flushed at exit
  EXPECT_FALSE(fs::exists("/state/PROJECT_STATE.md"));
}

TEST(SecurityTest, AWorkspaceThatLinksOutIsNeitherReadNorWritten) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  TempDir victim;
  testing::write_passing_workspace(victim);  // would pass acceptance if it were followed
  fs::remove_all(victim.path() + "/state");
  const std::string ws = h.dir() + "/ws-link";
  fs::create_symlink(victim.path(), ws);
  h.board().create_task("t_wslink", "link", "researcher", ws);
  h.board().claim("t_wslink", DaemonHarness::now() - 5);
  h.append("t_wslink", "[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_NE(d->str("action"), "complete") << d->raw;
  EXPECT_NE(d->raw.find("refused: the state report in " + ws), std::string::npos) << d->raw;
  h.stop();
  EXPECT_FALSE(fs::exists(victim.path() + "/state")) << "a report was written through the link";
}

TEST(SecurityTest, AWorkspaceWhoseStateIsALinkGetsNoReportThere) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  TempDir victim;
  TempDir ws(h.dir());
  ws.file("raw/data.json", "{}");
  fs::create_symlink(victim.path(), ws.path() + "/state");
  h.board().create_task("t_statelink", "state link", "researcher", ws.path());
  h.board().claim("t_statelink", DaemonHarness::now() - 5);
  h.append("t_statelink", "[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_NE(d->raw.find("state/ is not a directory (links are not followed)"), std::string::npos) << d->raw;
  h.stop();
  EXPECT_FALSE(fs::exists(victim.path() + "/PROJECT_STATE.md"));
  EXPECT_FALSE(fs::exists(victim.path() + "/PROJECT_STATE.html"));
  // The board-wide report in the state dir is still written.
  EXPECT_TRUE(fs::exists(h.state() + "/state/default/PROJECT_STATE.md"));
}

TEST(SecurityTest, BadSubscribeRequestsGetAnErrorAndTheDaemonGoesOn) {
  DaemonHarness h;
  h.start();
  SocketClient evil(h.socket());
  ASSERT_TRUE(evil.next());  // hello
  for (const char* req : {R"({"op":"subscribe","since":18446744073709551615})", R"({"op":"subscribe","since":-1})",
                          R"({"op":"subscribe","since":"3"})", R"({"op":"subscribe","since":1.5})", R"([1,2])",
                          R"({"op":"unsubscribe"})", R"({"op":"subscribe","since":0,"x":1})", "not json"}) {
    evil.send_raw(req);
    auto e = evil.next(2000ms);
    ASSERT_TRUE(e) << req << "\n" << h.daemon_log();
    EXPECT_EQ(e->type, "error") << req << " -> " << e->raw;
  }
  // Everyone else is served at once, and decisions still flow.
  SocketClient other(h.socket(), 0);
  auto hello = other.next(1000ms);
  ASSERT_TRUE(hello);
  EXPECT_EQ(hello->type, "hello");
  h.start_task("t_ok");
  h.append("t_ok", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  EXPECT_TRUE(other.next_of("decision")) << h.daemon_log();
}

TEST(SecurityTest, ARegularFileAtTheSocketPathIsRefusedAndKept) {
  TempDir dir;
  fs::create_directories(dir.path() + "/root");
  const std::string sock = dir.file("s.sock", "not a socket\n");
  const auto r = testing::run_process({MEDIC_BINARY, "run", "--hermes-root", dir.path() + "/root", "--state-dir",
                                       dir.path() + "/state", "--socket", sock, "--rules", MEDIC_RULES_DIR});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("exists and is not a socket"), std::string::npos) << r.err;
  EXPECT_EQ(testing::read_file(sock), "not a socket\n");
}

TEST(SecurityTest, ALiveSocketIsNeverTakenOver) {
  DaemonHarness h;
  h.start();
  TempDir other;
  const auto r = testing::run_process({MEDIC_BINARY, "run", "--hermes-root", h.root(), "--state-dir",
                                       other.path() + "/state", "--socket", h.socket(), "--rules", MEDIC_RULES_DIR});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("another process is serving on this socket"), std::string::npos) << r.err;
  SocketClient client(h.socket());
  auto hello = client.next(1000ms);
  ASSERT_TRUE(hello) << "the first daemon lost its socket";
  EXPECT_EQ(hello->num("pid"), h.pid());
}

TEST(SecurityTest, ASecondDaemonOnOneStateDirExitsNamingTheFirst) {
  DaemonHarness h;
  h.start();
  TempDir other;
  const auto r = testing::run_process({MEDIC_BINARY, "run", "--hermes-root", h.root(), "--state-dir", h.state(),
                                       "--socket", other.path() + "/s.sock", "--rules", MEDIC_RULES_DIR});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("is in use by another medic (pid " + std::to_string(h.pid()) + ")"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(other.path() + "/s.sock"));
}

}  // namespace
}  // namespace medic
