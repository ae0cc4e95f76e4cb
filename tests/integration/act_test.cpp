// `medic act` end to end: the real daemon decides, the real `medic act` subscribes and
// applies each decision through a stand-in `hermes` (the one part that cannot run here),
// a script that records every call's arguments and answers `show --json`.
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "integration/daemon_harness.h"
#include "report/state_report.h"

extern char** environ;

namespace medic {
namespace {

using testing::DaemonHarness;
using testing::SocketClient;
using testing::TempDir;
using namespace std::chrono_literals;

constexpr const char* kProviderLine = "   🔌 Provider: openai-codex  Model: gpt-5.5\n";

constexpr const char* kStandIn = R"SH(#!/bin/sh
# Stand-in for Hermes's CLI: one line per call, arguments separated by tabs.
{ printf '%s' "$1"; shift; for a in "$@"; do printf '\t%s' "$a"; done; printf '\n'; } >> "$MEDIC_TEST_RECORD"
case " $* " in
  *" show "*) printf '{"id":"x","status":"%s"}\n' "$(cat "$MEDIC_TEST_STATUS" 2>/dev/null || echo blocked)" ;;
esac
exit 0
)SH";

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) out.push_back(l);
  return out;
}

std::string tabs(std::initializer_list<std::string> args) {
  std::string out;
  for (const auto& a : args) out += (out.empty() ? "" : "\t") + a;
  return out;
}

class ActTest : public ::testing::Test {
 protected:
  explicit ActTest(const std::string& config = {}) : h_(config) {}
  void SetUp() override {
    hermes_ = tools_.file("hermes", kStandIn);
    ::chmod(hermes_.c_str(), 0755);
    record_ = tools_.path() + "/calls.tsv";
    status_ = tools_.file("status", "blocked");
    h_.start();
  }
  void TearDown() override { stop_act(); }

  void start_act(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> argv{MEDIC_BINARY, "act",   "--socket",    h_.socket(),
                                  "--hermes",   hermes_, "--state-dir", act_state_.path()};
    for (const auto& e : extra) argv.push_back(e);
    std::vector<std::string> env_store;
    for (char** e = environ; *e; ++e) env_store.emplace_back(*e);
    env_store.push_back("MEDIC_TEST_RECORD=" + record_);
    env_store.push_back("HERMES_KANBAN_HOME=" + h_.root());  // act's workspace roots: the daemon's defaults
    env_store.push_back("MEDIC_TEST_STATUS=" + status_);
    std::vector<char*> envp;
    for (auto& e : env_store) envp.push_back(e.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, act_out().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_addopen(&fa, 2, act_log().c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    ASSERT_EQ(posix_spawn(&act_pid_, args[0], &fa, nullptr, args.data(), envp.data()), 0);
    posix_spawn_file_actions_destroy(&fa);
    ASSERT_TRUE(wait_for([&] { return testing::read_file(act_log()).find("subscribed since=") != std::string::npos; }))
        << testing::read_file(act_log());
  }
  void stop_act() {
    if (act_pid_ <= 0) return;
    ::kill(act_pid_, SIGTERM);
    int status = 0;
    ::waitpid(act_pid_, &status, 0);
    act_pid_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::read_file(act_log());
  }
  template <class Pred>
  static bool wait_for(Pred pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return pred();
  }
  bool wait_for_calls(std::size_t n) {
    return wait_for([&] { return lines(testing::read_file(record_)).size() >= n; });
  }
  std::vector<std::string> calls() const { return lines(testing::read_file(record_)); }
  std::string act_log() const { return act_state_.path() + "/act.log"; }
  std::string act_out() const { return act_state_.path() + "/act.out"; }
  void set_status(const std::string& s) { std::ofstream(status_) << s; }

  // A protocol violation whose artifacts all pass: the daemon decides `complete`.
  void complete_task(TempDir& ws, const std::string& task) {
    h_.board().create_task(task, "Write the report", "writer", ws.path());
    h_.board().claim(task, DaemonHarness::now() - 5);
    testing::write_passing_workspace(ws);
    h_.append(task, "[kanban-worker-exit] rc=0\n");
  }

  DaemonHarness h_;
  TempDir tools_;
  TempDir act_state_;
  std::string hermes_;
  std::string record_;
  std::string status_;
  pid_t act_pid_ = -1;
};

TEST_F(ActTest, ReclaimsARunningTaskThenCompletesItAndReportsTheCommands) {
  start_act();
  set_status("running");
  TempDir ws(h_.dir());
  complete_task(ws, "t_done");
  ASSERT_TRUE(wait_for_calls(3)) << testing::read_file(act_log()) << h_.daemon_log();
  const auto c = calls();
  EXPECT_EQ(c[0], tabs({"kanban", "--board=default", "show", "--json", "--", "t_done"}));
  EXPECT_EQ(c[1], tabs({"kanban", "--board=default", "reclaim", "--reason=medic: default/t_done/1", "--", "t_done"}));
  EXPECT_EQ(c[2].rfind(tabs({"kanban", "--board=default", "complete", "--summary=medic: "}), 0), 0u) << c[2];
  // Each command and its exit code is in the task's state report and the board's.
  for (const auto& path :
       {ws.path() + "/state/PROJECT_STATE.html", act_state_.path() + "/state/default/PROJECT_STATE.md"}) {
    ASSERT_TRUE(wait_for([&] {
      auto s = report::read_section(path);
      return s && s->commands.size() >= 2;
    })) << path;
    auto s = report::read_section(path);
    EXPECT_NE(s->commands[0].command.find(" reclaim "), std::string::npos) << s->commands[0].command;
    EXPECT_NE(s->commands[0].command.find(" -- t_done"), std::string::npos) << s->commands[0].command;
    EXPECT_NE(s->commands[1].command.find(" complete "), std::string::npos);
    EXPECT_EQ(s->commands[1].exit_code, 0);
    EXPECT_EQ(s->commands[1].decision_id, "default/t_done/1");
  }
}

TEST_F(ActTest, ParksARateLimitedTaskAndUnblocksItAtTheResetTime) {
  start_act();
  h_.start_task("t_rl");
  const auto reset = DaemonHarness::now() + 2;
  h_.append("t_rl", std::string(kProviderLine) +
                        "   📝 Error: HTTP 429: The usage limit has been reached. plan_type: team, resets_at: " +
                        std::to_string(reset) + "\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_calls(2)) << testing::read_file(act_log()) << h_.daemon_log();
  auto c = calls();
  EXPECT_EQ(c[0], tabs({"kanban", "--board=default", "show", "--json", "--", "t_rl"}));
  EXPECT_EQ(c[1].rfind(tabs({"kanban", "--board=default", "schedule", "--", "t_rl", "medic: retry at "}), 0), 0u)
      << c[1];
  // Nothing more until the reset time; then act itself unblocks the task.
  EXPECT_EQ(calls().size(), 2u);
  ASSERT_TRUE(wait_for_calls(3)) << testing::read_file(act_log());
  EXPECT_GE(DaemonHarness::now(), reset);
  EXPECT_EQ(calls()[2], tabs({"kanban", "--board=default", "unblock", "--", "t_rl"}));
}

TEST_F(ActTest, KeepsAPendingUnblockAcrossItsOwnRestart) {
  start_act();
  h_.start_task("t_wait");
  const auto reset = DaemonHarness::now() + 3;
  h_.append("t_wait", std::string(kProviderLine) +
                          "   📝 Error: HTTP 429: The usage limit has been reached. plan_type: team, resets_at: " +
                          std::to_string(reset) + "\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_calls(2)) << testing::read_file(act_log());
  stop_act();
  start_act();
  ASSERT_TRUE(wait_for_calls(3)) << testing::read_file(act_log());
  EXPECT_EQ(calls()[2], tabs({"kanban", "--board=default", "unblock", "--", "t_wait"}));
  EXPECT_EQ(calls().size(), 3u) << "the restart must not apply the decision again";
}

// An assignee is a task field a worker can write: "../victim3" must not make act run the
// preflight (and link a login) in a HOME outside the template's profiles directory.
TEST_F(ActTest, AnAssigneeThatIsAPathGetsNoPreflightAndNoCommand) {
  tools_.file("victim3/.keep", "");
  start_act({"--profile-home", tools_.path() + "/profiles/{assignee}"});
  h_.board().create_task("t_evil", "Research", "../victim3");
  h_.board().claim("t_evil", DaemonHarness::now());
  h_.append("t_evil", "DEBUG request headers: Authorization: Bearer None\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for([&] { return testing::read_file(act_log()).find("refused") != std::string::npos; }))
      << testing::read_file(act_log()) << h_.daemon_log();
  EXPECT_NE(testing::read_file(act_log()).find("decision=default/t_evil/1 refused"), std::string::npos)
      << testing::read_file(act_log());
  EXPECT_EQ(testing::read_file(record_), "");
  EXPECT_FALSE(std::filesystem::exists(tools_.path() + "/victim3/.codex"));
}

class ActFallbackTest : public ActTest {
 protected:
  ActFallbackTest() : ActTest("policy:\n  fallback_providers:\n    openai-codex: [xai]\n") {}
};

TEST_F(ActFallbackTest, MovesARateLimitedTaskToTheFallbackProviderAndReleasesItNow) {
  start_act();
  h_.start_task("t_fb");
  h_.append("t_fb", std::string(kProviderLine) +
                        "   📝 Error: HTTP 429: The usage limit has been reached. plan_type: team, resets_at: " +
                        std::to_string(DaemonHarness::now() + 3600) + "\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_calls(3)) << testing::read_file(act_log()) << h_.daemon_log();
  const auto c = calls();
  EXPECT_EQ(c[1], tabs({"kanban", "--board=default", "set-model", "--provider=xai", "--", "t_fb", "none"}));
  EXPECT_EQ(c[2], tabs({"kanban", "--board=default", "unblock", "--", "t_fb"}));
}

// repair_auth: act runs `medic preflight` in the task's profile HOME (a stand-in `codex`
// that is logged in once auth.json is there); repaired, the task is released at once.
TEST_F(ActTest, RepairsAProfilesCodexLoginWithThePreflightThenReleasesTheTask) {
  tools_.file("bin/codex",
              "#!/bin/sh\nif [ -e \"$HOME/.codex/auth.json\" ]; then echo 'Logged in using ChatGPT'; "
              "else echo 'Not logged in'; exit 1; fi\n");
  ::chmod((tools_.path() + "/bin/codex").c_str(), 0755);
  tools_.file("main/.codex/auth.json", "{\"tokens\": {}}");
  tools_.file("profiles/researcher/home/.keep", "");
  // act (and the preflight it runs) inherit this environment; restored after the start.
  const std::string old_path = std::getenv("PATH") ? std::getenv("PATH") : "";
  const std::string old_home = std::getenv("HOME") ? std::getenv("HOME") : "";
  ::setenv("PATH", (tools_.path() + "/bin:" + old_path).c_str(), 1);
  ::setenv("HOME", (tools_.path() + "/main").c_str(), 1);
  start_act({"--profile-home", tools_.path() + "/profiles/{assignee}/home"});
  ::setenv("PATH", old_path.c_str(), 1);
  ::setenv("HOME", old_home.c_str(), 1);
  h_.board().create_task("t_auth", "Research", "researcher");
  h_.board().claim("t_auth", DaemonHarness::now());
  h_.append("t_auth", "DEBUG request headers: Authorization: Bearer None\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_calls(2)) << testing::read_file(act_log()) << h_.daemon_log();
  EXPECT_EQ(calls()[1], tabs({"kanban", "--board=default", "unblock", "--", "t_auth"}));
  const std::string link = tools_.path() + "/profiles/researcher/home/.codex/auth.json";
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_NE(testing::read_file(act_log()).find("--profile-home=" + tools_.path() + "/profiles/researcher/home` exit=0"),
            std::string::npos)
      << testing::read_file(act_log());
}

TEST_F(ActTest, AppliesEachDecisionOnceAcrossRestarts) {
  start_act();
  TempDir ws(h_.dir());
  complete_task(ws, "t_once");
  ASSERT_TRUE(wait_for_calls(2)) << testing::read_file(act_log());
  stop_act();
  // Restarted from 0 on purpose: the journal replays the decision, act skips it.
  start_act({"--since", "0"});
  h_.start_task("t_quota");
  h_.append("t_quota", std::string(kProviderLine) +
                           "   📝 Error: HTTP 402: You have run out of credits. Please add more credits.\n"
                           "[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_calls(4)) << testing::read_file(act_log()) << h_.daemon_log();
  const auto c = calls();
  ASSERT_EQ(c.size(), 4u);
  EXPECT_EQ(c[3].rfind(tabs({"kanban", "--board=default", "block", "--kind=capability", "--", "t_quota"}), 0), 0u)
      << c[3];
  EXPECT_NE(testing::read_file(act_log()).find("decision=default/t_once/1 already applied"), std::string::npos);
}

TEST_F(ActTest, ADryRunPrintsTheCommandsAndRunsNothing) {
  start_act({"--dry-run"});
  TempDir ws(h_.dir());
  complete_task(ws, "t_dry");
  ASSERT_TRUE(wait_for([&] { return testing::read_file(act_out()).find("-- t_dry") != std::string::npos; }))
      << testing::read_file(act_log());
  EXPECT_NE(testing::read_file(act_out()).find(hermes_ + " kanban --board=default complete '--summary=medic: "),
            std::string::npos)
      << testing::read_file(act_out());
  EXPECT_EQ(testing::read_file(record_), "");
  EXPECT_FALSE(std::filesystem::exists(act_state_.path() + "/act.json"));
}

}  // namespace
}  // namespace medic
