// medic run end to end: the real binary, a real Hermes board, real log files, a real
// Unix socket. Each test states the behaviour DESIGN.md §3-§6 and issue 3 ask for.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "integration/daemon_harness.h"

namespace medic {
namespace {

using testing::DaemonHarness;
using testing::Message;
using testing::SocketClient;
using namespace std::chrono_literals;

constexpr const char* kProviderLine = "   🔌 Provider: openai-codex  Model: gpt-5.5\n";

std::string codex_429(std::int64_t resets_at) {
  return "   📝 Error: HTTP 429: The usage limit has been reached. plan_type: team, resets_at: " +
         std::to_string(resets_at) + "\n";
}

TEST(DaemonTest, SeedRateLimitWithCleanExitIsRetriedAtTheResetNeverBlocked) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);  // since 0: a decision may precede the accept
  auto hello = client.next();
  ASSERT_TRUE(hello) << h.daemon_log();
  EXPECT_EQ(hello->type, "hello");
  const auto run = h.start_task("t_77ac35a7");
  const auto resets_at = DaemonHarness::now() + 3600;
  h.append("t_77ac35a7", kProviderLine + codex_429(resets_at) + "[kanban-worker-exit] rc=0\n");

  auto health = client.next_of("provider_health");
  ASSERT_TRUE(health) << h.daemon_log();
  EXPECT_EQ(health->str("provider"), "openai-codex");
  EXPECT_EQ(health->num("unhealthy_until"), resets_at);
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("action"), "retry_at");
  EXPECT_EQ(d->num("retry_at"), resets_at);
  EXPECT_EQ(d->str("class"), "rate_limit");
  EXPECT_EQ(d->str("id"), "default/t_77ac35a7/" + std::to_string(run));
  EXPECT_EQ(d->num("run_id"), run);
  EXPECT_EQ(d->doc["exit"]["rc"].get_int64().value(), 0);
  EXPECT_EQ(std::string(d->doc["exit"]["seen_by"].get_string().value()), "trailer");
  EXPECT_EQ(std::string(d->doc["evidence"]["rule"].get_string().value()), "codex-usage-limit-reached");
  EXPECT_EQ(d->doc["evidence"]["line"].get_int64().value(), 2);

  // Hermes's own protocol_violation for the same run, a minute later: no second decision.
  h.board().event("t_77ac35a7", run, "protocol_violation",
                  R"({"pid":999999,"claimer":"h:1","exit_code":0,"protocol_violation":true})", DaemonHarness::now());
  // A later run's exit that only the board tells: board events are read in order, so once
  // its decision is out the protocol_violation before it has been read and answered.
  const auto marker = h.start_task("t_marker");
  h.board().event("t_marker", marker, "crashed", R"({"pid":999998,"claimer":"h:1","exit_code":1})",
                  DaemonHarness::now());
  auto next = client.next_of("decision");
  ASSERT_TRUE(next) << h.daemon_log();
  EXPECT_EQ(next->str("task_id"), "t_marker") << "one decision per run: " << next->raw;
}

TEST(DaemonTest, ASecondTaskOnTheSameProviderMovesToTheFallback) {
  DaemonHarness h("policy:\n  fallback_providers:\n    openai-codex: [xai]\n");
  h.start();
  SocketClient client(h.socket(), 0);  // since 0: a decision may precede the accept
  h.start_task("t_a");
  h.append("t_a", kProviderLine + codex_429(DaemonHarness::now() + 3600) + "[kanban-worker-exit] rc=0\n");
  auto first = client.next_of("decision");
  ASSERT_TRUE(first) << h.daemon_log();
  EXPECT_EQ(first->str("use_provider"), "xai");
  // Task b still runs on openai-codex and drops its connection: it moves too.
  h.start_task("t_b");
  h.append("t_b", std::string(kProviderLine) + "   📝 Error: Connection error.\n[kanban-worker-exit] rc=1\n");
  auto second = client.next_of("decision");
  ASSERT_TRUE(second) << h.daemon_log();
  EXPECT_EQ(second->str("task_id"), "t_b");
  EXPECT_EQ(second->str("class"), "connection");
  EXPECT_EQ(second->str("provider"), "openai-codex");
  EXPECT_EQ(second->str("use_provider"), "xai");
}

struct Row {
  const char* name;
  const char* log;
  int rc;
  const char* klass;
  const char* action;
  friend void PrintTo(const Row& r, std::ostream* os) { *os << r.name; }
};

class DesignTableTest : public ::testing::TestWithParam<Row> {};

TEST_P(DesignTableTest, DecidesTheRowsAction) {
  const Row& row = GetParam();
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);  // since 0: a decision may precede the accept
  h.start_task("t_1");
  h.append("t_1", std::string(row.log) + "\n[kanban-worker-exit] rc=" + std::to_string(row.rc) + "\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  if (std::string(row.klass).empty()) {
    EXPECT_TRUE(d->is_null("class")) << d->raw;
  } else {
    EXPECT_EQ(d->str("class"), row.klass) << d->raw;
  }
  EXPECT_EQ(d->str("action"), row.action) << d->raw;
  EXPECT_FALSE(d->str("reason").empty());
}

INSTANTIATE_TEST_SUITE_P(
    Rows, DesignTableTest,
    ::testing::Values(
        Row{"QuotaExhausted",
            "Error: insufficient_quota: You exceeded your current quota, please check your plan and billing details.",
            1, "quota_exhausted", "block"},
        Row{"Overloaded", "API Error: 529 Overloaded. This is a server-side issue, usually temporary.", 1, "overloaded",
            "retry"},
        Row{"Timeout", "⚠️  API call failed (attempt 3/3): APITimeoutError\n   📝 Error: Request timed out.", 1,
            "timeout", "retry"},
        Row{"Connection", "❌ API failed after 3 retries — Connection error.", 1, "connection", "retry"},
        Row{"AuthMissing", "DEBUG request headers: Authorization: Bearer None", 0, "auth_missing", "repair_auth"},
        Row{"AuthExpired",
            "Your access token could not be refreshed because your refresh token was already used. Please log out and "
            "sign in again.",
            1, "auth_expired", "repair_auth"},
        Row{"AuthRegion", "   📝 Error: HTTP 401: Workspace is not authorized in this region.", 78, "auth_region",
            "block"},
        Row{"AuthAuxiliary",
            "⚠️ Compression summary failed: Error code: 401 - {'error': {'message': 'User not found.', 'code': "
            "401}}. Inserted a fallback context marker.",
            0, "auth_auxiliary", "ignore"},
        Row{"ContextLength",
            "   📝 Error: Your input exceeds the context window of this model. Please adjust your input and try again.",
            1, "context_length", "block"},
        Row{"EnvMissing", "Error: Unknown skill(s): kanban-worker", 1, "env_missing", "repair_env"},
        Row{"ProtocolViolation", "  ┊ 📋 kanban_show t_1", 0, "protocol_violation", "block"},
        Row{"UnexplainedCrash", "Traceback (most recent call last): something odd", 1, "", "retry"}),
    [](const ::testing::TestParamInfo<Row>& info) { return std::string(info.param.name); });

TEST(DaemonTest, DecidesOnHermesExitEventWhenThereIsNoTrailer) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_old");
  h.append("t_old", "⚠️  API call failed (attempt 1/3): APIConnectionError\n   📝 Error: Connection error.\n");
  h.board().event("t_old", run, "crashed", R"({"pid":999999,"claimer":"h:1","exit_kind":"nonzero_exit","exit_code":1})",
                  DaemonHarness::now());
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "connection");
  EXPECT_EQ(std::string(d->doc["exit"]["seen_by"].get_string().value()), "event");
  EXPECT_EQ(std::string(d->doc["exit"]["event"].get_string().value()), "crashed");
  EXPECT_EQ(d->doc["exit"]["rc"].get_int64().value(), 1);
}

TEST(DaemonTest, DecidesWhenTheWorkerProcessDiesWithoutATrailer) {
  DaemonHarness h;
  h.start("debug");  // the daemon says when it watches the worker's pid
  SocketClient client(h.socket(), 0);
  // A real process stands in for the worker; Hermes records its pid and start time.
  const pid_t worker = fork();
  if (worker == 0) {
    execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
    _exit(127);
  }
  h.board().create_task("t_pid", "killed worker", "researcher");
  const auto run = h.board().claim("t_pid", DaemonHarness::now());
  h.board().event(
      "t_pid", run, "spawned",
      "{\"pid\":" + std::to_string(worker) + ",\"started_at\":" + std::to_string(DaemonHarness::now()) + "}",
      DaemonHarness::now());
  h.append("t_pid", "⚠️  API call failed (attempt 1/3): APIConnectionError\n   📝 Error: Connection error.\n");
  ASSERT_TRUE(h.wait_for_log("task=t_pid run=" + std::to_string(run) + " pid=" + std::to_string(worker) + " watched"))
      << h.daemon_log();
  kill(worker, SIGKILL);  // the OOM killer, say: no trailer is ever written
  waitpid(worker, nullptr, 0);
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(std::string(d->doc["exit"]["seen_by"].get_string().value()), "pid") << d->raw;
  EXPECT_TRUE(d->doc["exit"]["rc"].is_null());
  EXPECT_EQ(d->str("class"), "connection");
  EXPECT_EQ(d->num("run_id"), run);
}

// Issue 11 item 3b: a `crashed` event whose payload is not JSON still ended its run.
TEST(DaemonTest, AMalformedPayloadIsCountedButItsKindAndRunStillEndTheRun) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);  // replay too: the decision may precede the accept
  const auto run = h.start_task("t_bad");
  h.board().event("t_bad", run, "crashed", "{this is not json", DaemonHarness::now());
  h.board().event("t_bad", run, "timed_out", R"({"pid":999999,"elapsed_seconds":700,"limit_seconds":600})",
                  DaemonHarness::now());
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->num("run_id"), run);
  EXPECT_EQ(std::string(d->doc["exit"]["event"].get_string().value()), "crashed") << d->raw;
  // The later timed_out is the same run: the next decision is another task's, whose
  // events come after it on the board (a second one for t_bad would come first).
  const auto other = h.start_task("t_next");
  h.board().event("t_next", other, "crashed", R"({"pid":999999,"exit_code":1})", DaemonHarness::now());
  auto next = client.next_of("decision");
  ASSERT_TRUE(next) << h.daemon_log();
  EXPECT_EQ(next->str("task_id"), "t_next") << "the later timed_out was decided again: " << next->raw;
  h.stop();
  EXPECT_NE(h.daemon_log().find("payload is not a JSON object; its kind and run still count"), std::string::npos);
  EXPECT_NE(h.daemon_log().find("malformed_events=1"), std::string::npos);
}

TEST(DaemonTest, ARestartInTheMiddleLosesNoEvidenceAndRepeatsNoDecision) {
  DaemonHarness h;
  h.start();
  const auto run1 = h.start_task("t_r");
  h.append("t_r", "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=1\n");
  {
    SocketClient c(h.socket(), 0);
    ASSERT_TRUE(c.next_of("decision")) << h.daemon_log();
  }
  // Run 2 starts; its failure is written, then medic restarts, then the worker exits.
  const auto run2 = h.board().claim("t_r", DaemonHarness::now());
  h.append("t_r", std::string(kProviderLine) + codex_429(DaemonHarness::now() + 900));
  ASSERT_TRUE(h.wait_until_read("t_r")) << h.daemon_log();  // medic has read it before it stops
  h.stop();
  h.append("t_r", "more output written while medic was down\n[kanban-worker-exit] rc=0\n");
  h.start();
  SocketClient all(h.socket(), 0);
  std::vector<Message> decisions;
  std::int64_t expected_seq = 1;
  while (auto m = all.next(1500ms)) {
    if (m->type == "hello") continue;
    EXPECT_EQ(m->num("seq"), expected_seq++) << "gap-free seq across the restart";
    if (m->type == "decision") decisions.push_back(*m);
  }
  ASSERT_EQ(decisions.size(), 2u) << h.daemon_log();
  EXPECT_EQ(decisions[0].num("run_id"), run1);
  EXPECT_EQ(decisions[1].num("run_id"), run2);
  EXPECT_EQ(decisions[1].str("class"), "rate_limit") << decisions[1].raw;
}

TEST(DaemonTest, RotationDuringARunKeepsTheOldFilesEvidence) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);  // since 0: a decision may precede the accept
  h.start_task("t_rot");
  h.append("t_rot", std::string(kProviderLine) + codex_429(DaemonHarness::now() + 600));
  ASSERT_TRUE(h.wait_until_read("t_rot")) << h.daemon_log();
  std::filesystem::rename(h.log_path("t_rot"), h.log_path("t_rot") + ".1");
  h.append("t_rot", "new log after rotation\n[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "rate_limit") << d->raw;
}

TEST(DaemonTest, ASubscriberThatReconnectsWithSinceGetsEverythingInOrder) {
  DaemonHarness h;
  h.start();
  std::int64_t last = 0;
  {
    SocketClient c(h.socket());
    h.start_task("t_1");
    h.append("t_1", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
    auto d = c.next_of("decision");
    ASSERT_TRUE(d) << h.daemon_log();
    last = d->num("seq");
  }
  for (const char* t : {"t_2", "t_3"}) {
    h.start_task(t);
    h.append(t, "openai.APITimeoutError: Request timed out.\n[kanban-worker-exit] rc=1\n");
  }
  ASSERT_TRUE(h.wait_for_log("decision id=", 3)) << h.daemon_log();
  SocketClient again(h.socket(), static_cast<std::uint64_t>(last));
  std::vector<std::string> tasks;
  std::int64_t expected = last + 1;
  while (auto m = again.next(1000ms)) {
    if (m->type == "hello") continue;
    EXPECT_EQ(m->num("seq"), expected++);
    tasks.push_back(m->str("task_id"));
  }
  EXPECT_EQ(tasks, (std::vector<std::string>{"t_2", "t_3"}));
}

// A client that connects, gets a live decision before its subscribe line is read, and
// then subscribes from 0 must not see that decision twice.
TEST(DaemonTest, ADecisionSentLiveBeforeTheSubscribeIsNotReplayedAgain) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket());
  ASSERT_TRUE(client.next_of("hello"));
  h.start_task("t_live");
  h.append("t_live", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto live = client.next_of("decision");
  ASSERT_TRUE(live) << h.daemon_log();
  EXPECT_EQ(live->num("seq"), 1);
  client.subscribe(0);
  h.start_task("t_after");
  h.append("t_after", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto next = client.next_of("decision");
  ASSERT_TRUE(next) << h.daemon_log();
  EXPECT_EQ(next->num("seq"), 2) << next->raw;
  EXPECT_EQ(next->str("task_id"), "t_after");
}

// A decision published between a client's connect and its subscribe line is not sent
// ahead of the older ones the subscribe replays: every client sees seqs in order (the
// Python client keeps the highest seq seen, and lost the older one when it came second).
TEST(DaemonTest, ADecisionBetweenConnectAndSubscribeComesInSeqOrder) {
  DaemonHarness h;
  h.start();
  SocketClient watch(h.socket(), 0);
  h.start_task("t_first");
  h.append("t_first", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(watch.next_of("decision")) << h.daemon_log();
  SocketClient late(h.socket());  // connected; its subscribe line is not sent yet
  ASSERT_TRUE(late.next());       // hello
  h.start_task("t_second");
  h.append("t_second", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(watch.next_of("decision")) << h.daemon_log();  // published while `late` had not subscribed
  late.send_raw(R"({"op":"subscribe","since":0})");
  auto a = late.next_of("decision");
  auto b = late.next_of("decision");
  ASSERT_TRUE(a && b) << h.daemon_log();
  EXPECT_EQ(a->str("task_id"), "t_first");
  EXPECT_EQ(b->str("task_id"), "t_second");
  EXPECT_LT(a->num("seq"), b->num("seq"));
}

TEST(DaemonTest, ASlowSubscriberIsCutOffWithAReasonAndTheDaemonGoesOn) {
  DaemonHarness h("max_client_queue_bytes: 8192\n");
  h.start();
  SocketClient slow(h.socket());  // connects, then does not read
  SocketClient fast(h.socket(), 0);
  // Enough decisions to overflow 8 KiB in the slow client's socket plus queue; the
  // fast client reads each one as it comes.
  int seen = 0;
  for (int i = 0; i < 400; ++i) {
    const std::string t = "t_" + std::to_string(i);
    h.start_task(t);
    h.append(t, "openai.APITimeoutError: Request timed out.\n[kanban-worker-exit] rc=1\n");
    if (fast.next_of("decision", 5s)) ++seen;
  }
  EXPECT_EQ(seen, 400) << h.daemon_log();
  // The slow client finds, after what was queued for it, the reason it was cut off.
  std::optional<Message> last;
  while (auto m = slow.next(2s)) last = m;
  ASSERT_TRUE(last);
  EXPECT_EQ(last->type, "error") << last->raw;
  EXPECT_NE(last->str("reason").find("too slow"), std::string::npos);
  EXPECT_FALSE(slow.connected());
  // Still serving.
  SocketClient later(h.socket(), 399);
  EXPECT_TRUE(later.next_of("decision"));
}

// The seed article's incident: raw evidence saved, final MD/HTML missing, a Codex timeout,
// then rc=0. Resume from the evidence with the missing list; never collect again.
TEST(DaemonTest, IncidentT52cac9ceResumesFromEvidenceWithTheMissingList) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  testing::TempDir ws(h.dir());
  ws.file("raw/search-results.json", "{\"results\": [1, 2, 3]}");
  h.board().create_task("t_52cac9ce", "Market research", "researcher", ws.path());
  h.board().claim("t_52cac9ce", DaemonHarness::now());
  h.append("t_52cac9ce", std::string(kProviderLine) + "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "timeout");
  EXPECT_EQ(d->str("action"), "resume") << d->raw;
  EXPECT_EQ(d->strings("missing"),
            (std::vector<std::string>{"*.md", "*.html", "state/PROJECT_STATE.md", "state/PROJECT_STATE.html"}));
}

TEST(DaemonTest, AProtocolViolationWithCompleteArtifactsIsCompleted) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  testing::TempDir ws(h.dir());
  h.board().create_task("t_done", "Write the report", "writer", ws.path());
  h.board().claim("t_done", DaemonHarness::now() - 5);
  testing::write_passing_workspace(ws);
  h.append("t_done", "  ┊ 💾 write_file  report.html  0.0s\n[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "protocol_violation");
  EXPECT_EQ(d->str("action"), "complete") << d->raw;
  EXPECT_EQ(d->strings("checked").size(), 5u);
}

TEST(DaemonTest, AProtocolViolationWithNothingOnDiskBlocksWithTheExactPaths) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  testing::TempDir ws(h.dir());
  h.board().create_task("t_empty", "Collect sources", "researcher", ws.path());
  h.board().claim("t_empty", DaemonHarness::now());
  h.append("t_empty", "  ┊ 📋 kanban_show t_empty\n[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("action"), "block") << d->raw;
  EXPECT_NE(d->str("reason").find("raw/*"), std::string::npos) << d->raw;
  EXPECT_NE(d->str("next_command").find("--kind needs_input"), std::string::npos);
}

// A second run of the same task must get its own decision even when its exit trailer is
// read before Hermes's claimed event for it (here the event is not written at all: only
// tasks.current_run_id names the new run, as right after Hermes opens it).
TEST(DaemonTest, TheNextRunOfATaskGetsItsOwnDecision) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  const auto run1 = h.start_task("t_again");
  h.append("t_again", "openai.APITimeoutError: Request timed out.\n[kanban-worker-exit] rc=1\n");
  auto first = client.next_of("decision");
  ASSERT_TRUE(first) << h.daemon_log();
  EXPECT_EQ(first->num("run_id"), run1);
  h.board().exec("INSERT INTO task_runs (task_id, status, started_at) VALUES ('t_again', 'running', 1)");
  h.board().exec("UPDATE tasks SET current_run_id = (SELECT MAX(id) FROM task_runs) WHERE id = 't_again'");
  h.append("t_again", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto second = client.next_of("decision");
  ASSERT_TRUE(second) << h.daemon_log();
  EXPECT_EQ(second->num("run_id"), run1 + 1);
  EXPECT_EQ(second->str("class"), "env_missing");
}

TEST(DaemonTest, ADamagedCheckpointCostsOnlyItsDamagedEntries) {
  DaemonHarness h;
  h.start();
  h.stop();
  std::ofstream(h.state() + "/state.json", std::ios::trunc)
      << R"({"boards":{"default":"not a number"},"files":[{"path":7}],"runs":[{"key":5}],"attempts":{"k":[1,"x"]}})";
  h.start();
  SocketClient client(h.socket(), 0);
  h.start_task("t_after");
  h.append("t_after", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "env_missing");
  EXPECT_NE(h.daemon_log().find("malformed_entries=4 skipped"), std::string::npos) << h.daemon_log();
}

TEST(DaemonTest, ATruncatedLogIsReadAgainFromTheStart) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  h.start_task("t_tr");
  const std::string earlier = std::string(200, 'x') + "\nsome earlier output\n";
  h.append("t_tr", earlier);
  // Truncate only once medic has read to the end (its checkpoint says so), so the rewrite
  // below is never read as the file's first bytes by chance.
  ASSERT_TRUE(h.wait_for_read_offset(h.log_path("t_tr"), earlier.size())) << h.daemon_log();
  // The log is truncated (copytruncate-style); the new run's bytes start at offset 0.
  ::truncate(h.log_path("t_tr").c_str(), 0);
  h.append("t_tr", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "env_missing") << d->raw;
  EXPECT_EQ(d->doc["evidence"]["line"].get_int64().value(), 1);
}

TEST(DaemonTest, ABadRuleReloadIsRefusedAndTheRunningRulesKept) {
  testing::TempDir rules;
  for (const auto& e : std::filesystem::directory_iterator(MEDIC_RULES_DIR)) {
    std::filesystem::copy_file(e.path(), rules.path() + "/" + e.path().filename().string());
  }
  DaemonHarness h("rules: " + rules.path() + "\n");
  h.start();
  SocketClient client(h.socket(), 0);
  // A broken rule file lands in the rules directory: the reload is refused.
  rules.file("zz-broken.yaml", "- id: broken\n  class: nope\n  pattern: '('\n");
  ASSERT_TRUE(h.wait_for_log("the running rules are kept")) << h.daemon_log();
  h.start_task("t_1");
  h.append("t_1", "openai.APITimeoutError: Request timed out.\n[kanban-worker-exit] rc=1\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "timeout");
  EXPECT_NE(h.daemon_log().find("zz-broken.yaml:2: rule 'broken': unknown class 'nope'"), std::string::npos)
      << h.daemon_log();
  EXPECT_NE(h.daemon_log().find("the running rules are kept"), std::string::npos);
  // Fixed: a new rule of the author's takes effect without a restart.
  rules.file("zz-broken.yaml",
             "- id: acme-gateway-busy\n  class: overloaded\n  priority: 99\n  pattern: 'ACME gateway busy'\n");
  ASSERT_TRUE(h.wait_for_log("rules reloaded")) << h.daemon_log();
  h.start_task("t_2");
  h.append("t_2", "proxy said: ACME gateway busy\n[kanban-worker-exit] rc=1\n");
  auto d2 = client.next_of("decision");
  ASSERT_TRUE(d2) << h.daemon_log();
  EXPECT_EQ(d2->str("class"), "overloaded") << d2->raw;
  EXPECT_EQ(std::string(d2->doc["evidence"]["rule"].get_string().value()), "acme-gateway-busy");
}

// A task of the board in `dir` whose worker fails at once (a missing skill): returns its run.
std::int64_t fail_at_once(const std::string& dir, testing::HermesBoard& board, const std::string& task) {
  board.create_task(task, "nightly sync", "ops");
  const auto run = board.claim(task, DaemonHarness::now());
  std::ofstream(dir + "/logs/" + task + ".log", std::ios::app)
      << "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n";
  return run;
}

// A board created while the daemon runs (kanban/boards/<slug>/ appears later) is watched
// from its first event, and its decisions carry its slug.
TEST(DaemonTest, ABoardCreatedWhileRunningIsWatchedFromItsFirstEvent) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  const std::string dir = h.root() + "/kanban/boards/ops";
  std::filesystem::create_directories(dir + "/logs");
  testing::HermesBoard ops(dir + "/kanban.db");
  const auto run = fail_at_once(dir, ops, "t_ops");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("board"), "ops");
  EXPECT_EQ(d->str("task_id"), "t_ops");
  EXPECT_EQ(d->num("run_id"), run);
  EXPECT_EQ(d->str("class"), "env_missing");
}

// A board removed while the daemon follows it (`hermes kanban boards rm`, or its directory
// deleted) and made again under the same slug: the new board is followed from its first
// event. The daemon's open kanban.db and log pin the deleted directory, so its own watch
// never reports it gone; the parent's deletion event does.
TEST(DaemonTest, ABoardRemovedAndMadeAgainWhileRunningIsFollowedAnew) {
  DaemonHarness h;
  h.start("trace");  // each event read is logged: the new board's claim must be among them
  SocketClient client(h.socket(), 0);
  const std::string dir = h.root() + "/kanban/boards/ops";
  std::filesystem::create_directories(dir + "/logs");
  {
    testing::HermesBoard ops(dir + "/kanban.db");
    fail_at_once(dir, ops, "t_ops");
    auto d = client.next_of("decision");
    ASSERT_TRUE(d) << h.daemon_log();
    EXPECT_EQ(d->str("task_id"), "t_ops");
  }
  std::filesystem::remove_all(dir);
  ASSERT_TRUE(h.wait_for_log("board=ops went away")) << h.daemon_log();
  std::filesystem::create_directories(dir + "/logs");
  testing::HermesBoard again(dir + "/kanban.db");
  const auto run = fail_at_once(dir, again, "t_new");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("board"), "ops");
  EXPECT_EQ(d->str("task_id"), "t_new");
  EXPECT_EQ(d->num("run_id"), run);
  // Read from its first event: the claim was read (a board read from its last event would
  // still be decided, from the task row, after waiting for a claim that never comes).
  EXPECT_NE(h.daemon_log().find("kind=claimed task=t_new"), std::string::npos) << h.daemon_log();
}

// A worker log deleted in the middle of a run: the evidence already written still counts
// when Hermes's exit event arrives.
TEST(DaemonTest, ALogDeletedMidRunKeepsItsEvidence) {
  DaemonHarness h;
  ::setenv("MEDIC_LOG_LEVEL", "trace", 1);  // the daemon logs each hit: the test waits for it
  h.start();
  ::unsetenv("MEDIC_LOG_LEVEL");
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_gone");
  h.append("t_gone", "⚠️  API call failed (attempt 1/3): APIConnectionError\n   📝 Error: Connection error.\n");
  ASSERT_TRUE(h.wait_for_log("hit task=t_gone")) << h.daemon_log();
  std::filesystem::remove(h.log_path("t_gone"));
  h.board().event("t_gone", run, "crashed", R"({"pid":999999,"exit_code":1})", DaemonHarness::now());
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "connection") << d->raw;
  EXPECT_EQ(d->num("run_id"), run);
}

// A worker killed mid-line: its last line has no newline, and Hermes's crashed event is
// the exit. That line is the evidence.
TEST(DaemonTest, AnUnterminatedLastLineCountsAtAnEventExit) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_cut");
  h.append("t_cut", "working...\n   📝 Error: Connection error.");
  h.board().event("t_cut", run, "crashed", R"({"pid":999999,"exit_code":137})", DaemonHarness::now());
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("class"), "connection") << d->raw;
  EXPECT_EQ(d->doc["evidence"]["line"].get_int64().value(), 2);
  // The next run's bytes start a new line of their own.
  h.board().claim("t_cut", DaemonHarness::now());
  h.append("t_cut", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto next = client.next_of("decision");
  ASSERT_TRUE(next) << h.daemon_log();
  EXPECT_EQ(next->str("class"), "env_missing") << next->raw;
  EXPECT_EQ(next->doc["evidence"]["line"].get_int64().value(), 3);
}

// A daemon that runs for months keeps the tasks of the last day, not of every day: a task
// at rest for forget_tasks_idle_s is forgotten (from memory and the checkpoint), and what
// was decided for it stays decided: Hermes's late word on that run is still its run_ended,
// never a second decision.
TEST(DaemonTest, ATaskAtRestIsForgottenAndItsLateHermesEventIsNoSecondDecision) {
  DaemonHarness h("forget_tasks_idle_s: 2\n");
  h.start("debug");
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_rest");
  h.append("t_rest", "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=1\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  const std::string id = "default/t_rest/" + std::to_string(run);
  EXPECT_EQ(d->str("id"), id);
  // The checkpoint holds the task (its run) until it is forgotten, then no more.
  const auto checkpoint_names_task = [&](bool want) {
    for (int i = 0; i < 200; ++i) {
      std::ifstream in(h.state() + "/state.json");
      const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (!text.empty() && (text.find("\"key\":\"default/t_rest\"") != std::string::npos) == want) return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  };
  ASSERT_TRUE(checkpoint_names_task(true)) << h.daemon_log();
  ASSERT_TRUE(h.wait_for_log("forgot 1 idle task(s)")) << h.daemon_log();
  EXPECT_TRUE(checkpoint_names_task(false)) << "state.json still names the forgotten task";
  h.board().event("t_rest", run, "crashed", R"({"pid":999999,"claimer":"h:1","exit_code":1})", DaemonHarness::now());
  auto ended = client.next_of("run_ended");
  ASSERT_TRUE(ended) << h.daemon_log();
  EXPECT_EQ(ended->str("id"), id);
  EXPECT_EQ(ended->str("event"), "crashed");
  // The next run of the same task is decided as any new one.
  const auto next_run = h.board().claim("t_rest", DaemonHarness::now());
  h.append("t_rest", "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=1\n");
  auto second = client.next_of("decision");
  ASSERT_TRUE(second) << h.daemon_log();
  EXPECT_EQ(second->str("id"), "default/t_rest/" + std::to_string(next_run)) << second->raw;
}

// A log idle while its task is at rest is parked (closed, kept as its position): the next
// run's bytes reopen it where it stood, and its exit is decided on them, with their lines.
TEST(DaemonTest, AParkedLogIsReopenedByTheNextRunAndItsExitIsDecided) {
  DaemonHarness h("forget_tasks_idle_s: 1\n");
  h.start("debug");
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_park");
  h.append("t_park", "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=1\n");
  auto first = client.next_of("decision");
  ASSERT_TRUE(first) << h.daemon_log();
  EXPECT_EQ(first->str("id"), "default/t_park/" + std::to_string(run));
  ASSERT_TRUE(h.wait_for_log("parked 1 idle log(s)")) << h.daemon_log();
  const auto next_run = h.board().claim("t_park", DaemonHarness::now());
  h.append("t_park", "   📝 Error: HTTP 429: too many requests\n[kanban-worker-exit] rc=1\n");
  auto second = client.next_of("decision");
  ASSERT_TRUE(second) << h.daemon_log();
  EXPECT_EQ(second->str("id"), "default/t_park/" + std::to_string(next_run)) << second->raw;
  EXPECT_EQ(second->str("class"), "rate_limit") << second->raw;
  EXPECT_EQ(second->doc["evidence"]["line"].get_int64().value(), 3) << "the line count survives the parking";
}

// A parked log's position lives in the checkpoint's side file (parked.json), not in
// state.json, and survives a restart: what the next run wrote while medic was down is read
// from there as new bytes, and its exit is decided by its trailer (without the position,
// those bytes would be history, and their trailer a run boundary).
TEST(DaemonTest, AParkedLogsPositionSurvivesARestartInTheSideFile) {
  DaemonHarness h("forget_tasks_idle_s: 1\n");
  h.start("debug");
  auto run = h.start_task("t_side");
  h.append("t_side", "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=1\n");
  std::uint64_t seen = 0;
  {
    SocketClient client(h.socket(), 0);
    auto first = client.next_of("decision");
    ASSERT_TRUE(first) << h.daemon_log();
    seen = static_cast<std::uint64_t>(first->num("seq"));
  }
  ASSERT_TRUE(h.wait_for_log("parked 1 idle log(s)")) << h.daemon_log();
  const std::string log = h.log_path("t_side");
  const auto holds = [](const std::string& file, const std::string& text) {
    std::ifstream in(file);
    const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return all.find(text) != std::string::npos;
  };
  for (int i = 0; i < 100 && (!holds(h.state() + "/parked.json", log) || holds(h.state() + "/state.json", log)); ++i)
    std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(holds(h.state() + "/parked.json", log)) << "the parked log is not in the side file";
  EXPECT_FALSE(holds(h.state() + "/state.json", log)) << "state.json still lists the parked log";
  h.stop();
  run = h.board().claim("t_side", DaemonHarness::now());
  h.append("t_side", "   📝 Error: HTTP 429: too many requests\n[kanban-worker-exit] rc=1\n");
  h.start("debug");
  SocketClient client(h.socket(), seen);
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("id"), "default/t_side/" + std::to_string(run)) << d->raw;
  EXPECT_EQ(std::string(d->doc["exit"]["seen_by"].get_string().value()), "trailer") << d->raw;
  EXPECT_EQ(d->doc["evidence"]["line"].get_int64().value(), 3) << d->raw;
}

// Hermes writes gave_up with no run id, on its next tick. A task medic has forgotten at
// rest (or never held a run of) takes the board's newest run for it: the gave_up is still
// examined, as the one after that run.
TEST(DaemonTest, AGaveUpWithoutRunIdForAForgottenTaskIsExaminedForTheBoardsNewestRun) {
  DaemonHarness h("forget_tasks_idle_s: 1\n");
  h.start("trace");  // each event read is logged
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_gu");
  h.append("t_gu", "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(client.next_of("decision")) << h.daemon_log();
  ASSERT_TRUE(h.wait_for_log("forgot 1 idle task(s)")) << h.daemon_log();
  h.board().exec("UPDATE tasks SET status='blocked' WHERE id='t_gu'");
  h.board().event("t_gu", std::nullopt, "gave_up", R"({"failures":2,"effective_limit":2,"error":"exit 1"})",
                  DaemonHarness::now());
  EXPECT_TRUE(h.wait_for_log("decision id=default/t_gu/" + std::to_string(run) + "/gave_up")) << h.daemon_log();
  // Read late (a backlog): the board's newest run started after the gave_up, which is not
  // about it, and no run is guessed for it.
  // A run Hermes started later (its row only: medic has read no event of it).
  h.board().exec("INSERT INTO task_runs (task_id, status, started_at) VALUES ('t_gu', 'running', " +
                 std::to_string(DaemonHarness::now() + 100) + ")");
  const auto next_run = run + 1;
  h.board().event("t_gu", std::nullopt, "gave_up", R"({"failures":2,"effective_limit":2,"error":"exit 1"})",
                  DaemonHarness::now());
  // A later task's exit on the same board: events are read in order, so once its decision
  // is out the gave_up has been answered.
  const auto marker = h.start_task("t_marker");
  h.board().event("t_marker", marker, "crashed", R"({"pid":999998,"claimer":"h:1","exit_code":1})",
                  DaemonHarness::now());
  for (auto m = client.next_of("decision"); m && m->str("task_id") != "t_marker"; m = client.next_of("decision")) {
  }
  ASSERT_TRUE(h.wait_for_log("kind=gave_up task=t_gu", 2)) << h.daemon_log();
  EXPECT_EQ(h.daemon_log().find("id=default/t_gu/" + std::to_string(next_run) + "/gave_up"), std::string::npos)
      << h.daemon_log();
}

}  // namespace
}  // namespace medic
