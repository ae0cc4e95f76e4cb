// Recovery from artifacts end to end (issue 4): the real daemon decides from what lies in
// a task's workspace when Hermes gave up, a worker blocked its own task, or children wait
// on a blocked parent; and it stays silent for a run its worker completed on purpose.
#include <gtest/gtest.h>

#include <string>

#include "integration/daemon_harness.h"

namespace medic {
namespace {

using testing::DaemonHarness;
using testing::SocketClient;
using testing::TempDir;
using namespace std::chrono_literals;

TEST(RecoveryTest, AGaveUpTaskWhoseArtifactsPassIsCompleted) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  TempDir ws(h.dir());
  h.board().create_task("t_gave", "Collect and write", "researcher", ws.path());
  const auto run = h.board().claim("t_gave", DaemonHarness::now() - 5);
  testing::write_passing_workspace(ws);
  h.append("t_gave", "⚠️  API call failed (attempt 3/3): APIConnectionError\n   📝 Error: Connection error.\n");
  // Hermes's breaker: the run is closed as crashed and the task blocked with gave_up.
  h.board().exec("UPDATE tasks SET status='blocked' WHERE id='t_gave'");
  h.board().event("t_gave", run, "blocked", R"({"reason":"failure limit reached","kind":"transient"})",
                  DaemonHarness::now());
  h.board().event("t_gave", run, "gave_up", R"({"failures":2,"effective_limit":2,"error":"exit 1"})",
                  DaemonHarness::now());
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("action"), "complete") << d->raw;
  EXPECT_EQ(std::string(d->doc["exit"]["event"].get_string().value()), "gave_up");
  EXPECT_EQ(d->strings("checked").size(), 5u);
  EXPECT_NE(d->str("next_command").find("hermes kanban complete t_gave"), std::string::npos);
}

TEST(RecoveryTest, AWorkersOwnBlockWithPassingArtifactsIsCompleted) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  TempDir ws(h.dir());
  h.board().create_task("t_selfblock", "Write the summary", "writer", ws.path());
  const auto run = h.board().claim("t_selfblock", DaemonHarness::now() - 5);
  testing::write_passing_workspace(ws);
  h.board().exec("UPDATE tasks SET status='blocked' WHERE id='t_selfblock'");
  h.board().event("t_selfblock", run, "blocked", R"({"reason":"unsure the HTML is final","kind":"needs_input"})",
                  DaemonHarness::now());
  h.append("t_selfblock", "  ┊ 📋 kanban_block t_selfblock\n[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("action"), "complete") << d->raw;
  EXPECT_TRUE(d->is_null("class")) << "a clean exit after kanban_block is no protocol violation: " << d->raw;
  EXPECT_NE(d->str("reason").find("unsure the HTML is final"), std::string::npos);
}

TEST(RecoveryTest, ARunItsWorkerCompletedGetsNoDecision) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  const auto run = h.start_task("t_ok");
  h.board().exec("UPDATE tasks SET status='done' WHERE id='t_ok'");
  h.board().event("t_ok", run, "completed", R"({"result_len":12,"summary":"report written"})", DaemonHarness::now());
  h.append("t_ok", "  ┊ 📋 kanban_complete t_ok\n[kanban-worker-exit] rc=0\n");
  ASSERT_TRUE(h.wait_for_log("ended with the worker's own Kanban call: no decision")) << h.daemon_log();
  // The next decision on the socket is another task's, not one for t_ok.
  h.start_task("t_next");
  h.append("t_next", "Error: Unknown skill(s): kanban-worker\n[kanban-worker-exit] rc=1\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("task_id"), "t_next") << d->raw;
}

TEST(RecoveryTest, AChildWaitingOnABlockedParentGetsTheParentExaminedAndDecided) {
  DaemonHarness h;
  h.start();
  SocketClient client(h.socket(), 0);
  TempDir ws(h.dir());
  ws.file("raw/interviews.txt", "three interviews\n");
  ws.file("summary.md", "# Summary\n");
  h.board().create_task("t_parent", "Research", "researcher", ws.path());
  const auto run = h.board().claim("t_parent", DaemonHarness::now() - 5);
  // The run ended long ago (its decision is not this test's subject); a person blocked it.
  h.board().exec("UPDATE tasks SET status='blocked', current_run_id=NULL WHERE id='t_parent'");
  h.board().event("t_parent", std::nullopt, "blocked", R"({"reason":"check the numbers","kind":"needs_input"})",
                  DaemonHarness::now());
  // A child is created waiting on it.
  h.board().create_task("t_child", "Write the deck", "writer");
  h.board().exec("UPDATE tasks SET status='todo' WHERE id='t_child'");
  h.board().exec("INSERT INTO task_links (parent_id, child_id) VALUES ('t_parent', 't_child')");
  h.board().event("t_child", std::nullopt, "created", R"({"assignee":"writer","status":"todo","parents":["t_parent"]})",
                  DaemonHarness::now());
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("task_id"), "t_parent") << d->raw;
  EXPECT_EQ(d->num("run_id"), run);
  EXPECT_EQ(d->str("action"), "block") << d->raw;
  EXPECT_NE(d->str("reason").find("t_child"), std::string::npos);
  EXPECT_EQ(d->strings("missing"),
            (std::vector<std::string>{"*.html", "state/PROJECT_STATE.md", "state/PROJECT_STATE.html"}));
  EXPECT_EQ(d->str("next_command"), "hermes kanban unblock t_parent");

  // Once the missing files are there, the next blocked spell of a new run passes.
  const auto run2 = h.board().claim("t_parent", DaemonHarness::now() - 5);
  testing::write_passing_workspace(ws);
  h.board().exec("UPDATE tasks SET status='blocked', current_run_id=NULL WHERE id='t_parent'");
  h.board().event("t_parent", std::nullopt, "blocked", R"({"reason":"check again","kind":"needs_input"})",
                  DaemonHarness::now());
  auto again = client.next_of("decision");
  ASSERT_TRUE(again) << h.daemon_log();
  EXPECT_EQ(again->num("run_id"), run2);
  EXPECT_EQ(again->str("action"), "complete") << again->raw;
}

// Acceptance configured per task selector (issue 4 item 1): the researcher's report must
// name its subjects; a task no entry selects keeps DESIGN 5's default checks.
constexpr const char* kAcceptanceConfig = R"(acceptance:
  - assignee: researcher
    title: '(?i)market'
    evidence: ['raw/*.json']
    outputs:
      - path: 'report/final.md'
        min_bytes: 20
        contains: [pricing, Competitors]
    state: ['state/PROJECT_STATE.md']
)";

TEST(RecoveryTest, ConfiguredAcceptanceAppliesToTheTasksItSelects) {
  DaemonHarness h(kAcceptanceConfig);
  h.start();
  SocketClient client(h.socket(), 0);
  TempDir ws(h.dir());
  ws.file("raw/search.json", "{\"hits\": 3}");
  ws.file("report/final.md", "# Market\n\nCompetitors: A, B, C.\n");  // no pricing
  ws.file("state/PROJECT_STATE.md", "collected\n");
  h.board().create_task("t_market", "Market research: EU", "researcher", ws.path());
  h.board().claim("t_market", DaemonHarness::now() - 5);
  h.append("t_market", "[kanban-worker-exit] rc=0\n");
  auto d = client.next_of("decision");
  ASSERT_TRUE(d) << h.daemon_log();
  EXPECT_EQ(d->str("action"), "resume") << d->raw;
  EXPECT_EQ(d->strings("missing"), (std::vector<std::string>{"report/final.md"}));
  const auto checked = d->strings("checked");
  ASSERT_FALSE(checked.empty());
  EXPECT_NE(checked[0].find("acceptance: "), std::string::npos) << checked[0];
  EXPECT_NE(d->raw.find("lacks \\\"pricing\\\""), std::string::npos) << d->raw;

  // The same files for a writer's task: the default checks (no .html, no fresh state/*.html).
  TempDir other(h.dir());
  other.file("raw/search.json", "{}");
  other.file("report/final.md", "# Draft\n");
  h.board().create_task("t_writer", "Market research: EU", "writer", other.path());
  h.board().claim("t_writer", DaemonHarness::now() - 5);
  h.append("t_writer", "[kanban-worker-exit] rc=0\n");
  auto w = client.next_of("decision");
  ASSERT_TRUE(w) << h.daemon_log();
  EXPECT_EQ(w->strings("missing"),
            (std::vector<std::string>{"*.html", "state/PROJECT_STATE.md", "state/PROJECT_STATE.html"}));
}

TEST(RecoveryTest, ABadAcceptanceEntryStopsTheDaemonWithFileAndLine) {
  TempDir dir;
  const std::string config = dir.file("medic.yaml",
                                      "state_dir: /tmp/x\nacceptance:\n  - title: '(unclosed'\n"
                                      "    outputs:\n      - path: '../outside.md'\n        size: 3\n");
  const auto r = testing::run_process(
      {MEDIC_BINARY, "run", "--config", config, "--hermes-root", dir.path(), "--socket", dir.path() + "/s.sock"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find(config + ":3: title: not a valid regular expression"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(config + ":6: unknown output key 'size'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'../outside.md' escapes the task's workspace"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace medic
