// `medic act` end to end: the real daemon decides, the real `medic act` subscribes and
// applies each decision through a stand-in `hermes` (the one part that cannot run here).
// The stand-in (tests/support/hermes_standin.py) keeps the board's task states and
// refuses every transition the real CLI refuses at the pinned Hermes commit, so a
// command Hermes would reject fails these tests (no command may exit non-zero).
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <regex>
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

std::string codex_429(std::int64_t resets_at) {
  return std::string(kProviderLine) +
         "   📝 Error: HTTP 429: The usage limit has been reached. plan_type: team, resets_at: " +
         std::to_string(resets_at) + "\n";
}

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
    record_ = tools_.path() + "/calls.tsv";
    state_ = tools_.path() + "/board.json";
    h_.start();
  }
  void TearDown() override {
    stop_act();
    // No command act ran was one the real CLI refuses.
    for (const auto& rc : lines(testing::read_file(record_ + ".rc"))) {
      EXPECT_EQ(rc, "0") << "a hermes command failed:\n"
                         << testing::read_file(record_) << testing::read_file(act_log());
    }
  }

  void start_act(const std::vector<std::string>& extra = {}, const std::vector<std::string>& env = {}) {
    std::vector<std::string> argv{MEDIC_BINARY, "act",   "--socket",    h_.socket(),
                                  "--hermes",   hermes_, "--state-dir", act_state_.path()};
    for (const auto& e : extra) argv.push_back(e);
    std::vector<std::string> env_store{"MEDIC_TEST_RECORD=" + record_, "MEDIC_TEST_STATE=" + state_,
                                       "HERMES_KANBAN_HOME=" + h_.root()};  // act's workspace roots: the daemon's
    for (const auto& e : env) env_store.push_back(e);
    for (char** e = environ; *e; ++e) {
      const std::string var(*e);
      const std::string name = var.substr(0, var.find('=') + 1);
      bool overridden = false;
      for (const auto& o : env_store) overridden = overridden || o.rfind(name, 0) == 0;
      if (!overridden) env_store.push_back(var);
    }
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
  static bool wait_for(Pred pred, std::chrono::milliseconds timeout = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (pred()) return true;
      std::this_thread::sleep_for(20ms);
    }
    return pred();
  }
  // The calls that change something (every `show` left out).
  std::vector<std::string> changes() const {
    std::vector<std::string> out;
    for (auto& l : lines(testing::read_file(record_))) {
      if (l.find("\tshow\t") == std::string::npos) out.push_back(l);
    }
    return out;
  }
  bool wait_for_changes(std::size_t n) {
    return wait_for([&] { return changes().size() >= n; });
  }
  // A later failure of another task ("t_zz"), decided after everything before it: with
  // --parallel 1 its command runs only once every job queued before it is done, so what
  // act has not done by then it does not do (a wait for silence would pass when act was
  // merely slow). Returns once its first command ran.
  bool barrier() {
    const std::size_t before = changes().size();
    h_.board().create_task("t_zz", "barrier", "researcher");
    const auto run = h_.board().claim("t_zz", DaemonHarness::now());
    seed("t_zz", "running", run, true);
    h_.append("t_zz", codex_429(DaemonHarness::now() + 3600) + "[kanban-worker-exit] rc=1\n");
    return wait_for([&] {
      const auto all = changes();
      return all.size() > before && all.back().find("t_zz") != std::string::npos;
    });
  }
  // The calls that changed anything but the barrier's task (a board-wide dispatch counts).
  std::size_t changes_besides_barrier() const {
    std::size_t n = 0;
    for (const auto& l : changes()) n += l.find("\tt_zz") == std::string::npos ? 1 : 0;
    return n;
  }
  std::string act_log() const { return act_state_.path() + "/act.log"; }
  std::string act_out() const { return act_state_.path() + "/act.out"; }

  // The stand-in board's view of a task, as Hermes would show it.
  void seed(const std::string& task, const std::string& status, std::int64_t run, bool run_open,
            const std::vector<std::pair<std::string, std::int64_t>>& events = {}) {
    // The stand-in's lock: act may be running commands for other tasks meanwhile.
    const int lock = ::open((state_ + ".lock").c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    ::flock(lock, LOCK_EX);
    struct Unlock {
      int fd;
      ~Unlock() { ::close(fd); }
    } unlock{lock};
    std::string state = testing::read_file(state_);
    if (state.empty()) state = R"({"tasks": {}})";
    std::string evs = R"([{"kind": "claimed", "run_id": )" + std::to_string(run) + "}";
    for (const auto& [kind, r] : events) {
      evs += R"(, {"kind": ")" + kind + R"(", "run_id": )" + (r ? std::to_string(r) : std::string("null")) + "}";
    }
    evs += "]";
    const std::string entry = "\"" + task + R"(": {"status": ")" + status + R"(", "runs": [{"id": )" +
                              std::to_string(run) + R"(, "ended_at": )" + (run_open ? "null" : "1") +
                              R"(}], "events": )" + evs + "}";
    const auto at = state.find("\"tasks\": {") + 10;
    state.insert(at, entry + (state[at] == '}' ? "" : ", "));
    std::ofstream(state_ + ".tmp") << state;
    std::filesystem::rename(state_ + ".tmp", state_);
  }
  std::string status_of(const std::string& task) const {
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    std::string_view s;
    if (p.parse(testing::read_file(state_)).get(doc) != simdjson::SUCCESS) return {};
    return doc["tasks"][task]["status"].get_string().get(s) == simdjson::SUCCESS ? std::string(s) : std::string();
  }

  // Rewrites the stand-in's view of a task (under its lock): status, and its open run ended.
  void restate(const std::string& task, const std::string& status, const std::string& outcome,
               std::int64_t new_run = 0) {
    const std::string script =
        "import fcntl,json,sys,time\n"
        "p,task,status,outcome=sys.argv[1:5]\n"
        "lock=open(p+'.lock','a'); fcntl.flock(lock, fcntl.LOCK_EX)\n"
        "s=json.load(open(p)); t=s['tasks'][task]; t['status']=status\n"
        "for r in t['runs']:\n"
        "  if r.get('ended_at') is None: r['ended_at']=int(time.time()); r['outcome']=outcome\n"
        "if int(sys.argv[5]): t['runs'].append({'id': int(sys.argv[5]), 'ended_at': None})\n"
        "json.dump(s,open(p+'.tmp','w')); import os; os.replace(p+'.tmp',p)\n";
    const std::string cmd = "python3 -c \"$MEDIC_SCRIPT\" '" + state_ + "' " + task + " " + status + " " + outcome +
                            " " + std::to_string(new_run);
    ::setenv("MEDIC_SCRIPT", script.c_str(), 1);
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  }
  // Hermes's tick finds the worker dead with no Kanban call (kanban_db.py:7580-7660 at the
  // pinned commit): the run ends `crashed` with a protocol_violation event and the task goes
  // back to ready, in the stand-in's state and on the board the daemon follows.
  void hermes_tick_ends(const std::string& task, std::int64_t run) {
    restate(task, "ready", "crashed");
    const auto now = std::to_string(DaemonHarness::now());
    h_.board().exec("UPDATE task_runs SET ended_at=" + now +
                    ", outcome='crashed', status='crashed' WHERE id=" + std::to_string(run) +
                    "; UPDATE tasks SET status='ready', current_run_id=NULL WHERE id='" + task + "'");
    h_.board().event(task, run, "protocol_violation", R"({"pid": 4242, "exit_code": 0, "protocol_violation": true})",
                     DaemonHarness::now());
  }
  bool act_logged(const std::string& text) {
    return wait_for([&] { return testing::read_file(act_log()).find(text) != std::string::npos; });
  }
  // The stand-in's runs of a task: "id:outcome" each, oldest first.
  std::vector<std::string> runs_of(const std::string& task) const {
    std::vector<std::string> out;
    simdjson::dom::parser p;
    simdjson::dom::element doc;
    simdjson::dom::array runs;
    if (p.parse(testing::read_file(state_)).get(doc) != simdjson::SUCCESS ||
        doc["tasks"][task]["runs"].get_array().get(runs) != simdjson::SUCCESS)
      return out;
    for (simdjson::dom::element r : runs) {
      std::int64_t id = 0;
      std::string_view outcome;
      if (r["id"].get_int64().get(id) != simdjson::SUCCESS) continue;
      if (r["outcome"].get_string().get(outcome) != simdjson::SUCCESS) outcome = "open";
      out.push_back(std::to_string(id) + ":" + std::string(outcome));
    }
    return out;
  }

  // A protocol violation whose artifacts all pass: the daemon decides `complete`.
  std::int64_t complete_task(TempDir& ws, const std::string& task) {
    h_.board().create_task(task, "Write the report", "writer", ws.path());
    const auto run = h_.board().claim(task, DaemonHarness::now() - 5);
    seed(task, "running", run, true);
    testing::write_passing_workspace(ws);
    h_.append(task, "[kanban-worker-exit] rc=0\n");
    return run;
  }

  DaemonHarness h_;
  TempDir tools_;
  TempDir act_state_;
  std::string hermes_ = std::string(MEDIC_SOURCE_DIR) + "/tests/support/hermes_standin.py";
  std::string record_;
  std::string state_;
  pid_t act_pid_ = -1;
};

TEST_F(ActTest, CompletesADoneTaskOnceHermesHasEndedItsRunAndDispatchesTheNext) {
  start_act();
  TempDir ws(h_.dir());
  const auto run = complete_task(ws, "t_done");
  // The worker is dead but Hermes's tick has not seen it: a complete now would end the run
  // as `completed` and Hermes's own outcome for it would never be written. act waits.
  ASSERT_TRUE(act_logged("decision=default/t_done/1 waits up to 90 s for Hermes to end run 1"))
      << testing::read_file(act_log()) << h_.daemon_log();
  EXPECT_TRUE(changes().empty());
  hermes_tick_ends("t_done", run);
  ASSERT_TRUE(wait_for_changes(2)) << testing::read_file(act_log()) << h_.daemon_log();
  EXPECT_NE(h_.daemon_log().find("run=default/t_done/1 decided earlier; Hermes has now ended it (protocol_violation)"),
            std::string::npos)
      << h_.daemon_log();
  // Hermes's run keeps Hermes's outcome; medic's summary is on a completed run of its own.
  EXPECT_EQ(runs_of("t_done"), (std::vector<std::string>{"1:crashed", "2:completed"}));
  const auto c = changes();
  // The worker has exited (that is what was decided): no reclaim, which would kill nothing
  // and reset Hermes's failure counter. Then one dispatcher pass for the next ready task.
  EXPECT_EQ(c[0].rfind(tabs({"kanban", "--board=default", "complete", "--summary=medic: "}), 0), 0u) << c[0];
  EXPECT_NE(c[0].find(tabs({"--", "t_done"})), std::string::npos) << c[0];
  EXPECT_EQ(c[1], tabs({"kanban", "--board=default", "dispatch"}));
  EXPECT_EQ(status_of("t_done"), "done");
  // Each command and its exit code is in the task's state report and the board's.
  for (const auto& path :
       {ws.path() + "/state/PROJECT_STATE.html", act_state_.path() + "/state/default/PROJECT_STATE.md"}) {
    ASSERT_TRUE(wait_for([&] {
      auto s = report::read_section(path);
      return s && s->commands.size() >= 2;
    })) << path;
    auto s = report::read_section(path);
    EXPECT_NE(s->commands[0].command.find(" complete "), std::string::npos) << s->commands[0].command;
    EXPECT_EQ(s->commands[0].exit_code, 0);
    EXPECT_EQ(s->commands[0].decision_id, "default/t_done/1");
  }
}

TEST_F(ActTest, ParksARateLimitedTaskAndReleasesItAtTheResetTime) {
  start_act();
  h_.board().create_task("t_rl", "task", "researcher");
  const auto run = h_.board().claim("t_rl", DaemonHarness::now());
  seed("t_rl", "running", run, true);
  const auto reset = DaemonHarness::now() + 2;
  h_.append("t_rl", codex_429(reset) + "[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_changes(1)) << testing::read_file(act_log()) << h_.daemon_log();
  EXPECT_EQ(changes()[0].rfind(tabs({"kanban", "--board=default", "schedule", "--", "t_rl", "medic: retry at "}), 0),
            0u)
      << changes()[0];
  EXPECT_EQ(status_of("t_rl"), "scheduled") << "parked: the dispatcher cannot spawn it before the reset";
  ASSERT_TRUE(wait_for_changes(3)) << testing::read_file(act_log());
  EXPECT_GE(DaemonHarness::now(), reset);
  EXPECT_EQ(changes()[1], tabs({"kanban", "--board=default", "unblock", "--", "t_rl"}));
  EXPECT_EQ(changes()[2], tabs({"kanban", "--board=default", "dispatch"}));
  EXPECT_EQ(status_of("t_rl"), "ready");
}

TEST_F(ActTest, KeepsAPendingReleaseAcrossItsOwnRestart) {
  start_act();
  h_.board().create_task("t_wait", "task", "researcher");
  const auto run = h_.board().claim("t_wait", DaemonHarness::now());
  seed("t_wait", "running", run, true);
  h_.append("t_wait", codex_429(DaemonHarness::now() + 3) + "[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_changes(1)) << testing::read_file(act_log());
  stop_act();
  start_act({"--parallel", "1"});
  ASSERT_TRUE(wait_for_changes(3)) << testing::read_file(act_log());
  EXPECT_EQ(changes()[1], tabs({"kanban", "--board=default", "unblock", "--", "t_wait"}));
  EXPECT_EQ(changes()[2], tabs({"kanban", "--board=default", "dispatch"}));
  ASSERT_TRUE(barrier()) << testing::read_file(act_log());
  EXPECT_EQ(changes_besides_barrier(), 3u) << "the restart applied the decision again:\n"
                                           << testing::read_file(record_);
}

// A stop while the release's unblock is in flight kills it: the timer stays in act.json
// until its commands are done, so the next start reads the task and releases it then.
TEST_F(ActTest, AReleaseCutShortByAStopIsMadeAtTheNextStart) {
  start_act({}, {"MEDIC_TEST_SLOW_VERB=unblock", "MEDIC_TEST_SLOW_S=5"});
  h_.board().create_task("t_cut", "task", "researcher");
  const auto run = h_.board().claim("t_cut", DaemonHarness::now());
  seed("t_cut", "running", run, true);
  h_.append("t_cut", codex_429(DaemonHarness::now() + 2) + "[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_changes(1)) << testing::read_file(act_log());
  ASSERT_TRUE(wait_for([&] {
    const std::string log = testing::read_file(act_log());
    return log.find("timer for t_cut fired") != std::string::npos || log.find("release for t_cut") != std::string::npos;
  })) << testing::read_file(act_log());
  stop_act();
  ASSERT_EQ(changes().size(), 1u) << "the slow unblock was to be cut short:\n" << testing::read_file(record_);
  EXPECT_EQ(status_of("t_cut"), "scheduled");
  start_act();
  ASSERT_TRUE(wait_for_changes(3)) << testing::read_file(act_log());
  EXPECT_EQ(changes()[1], tabs({"kanban", "--board=default", "unblock", "--", "t_cut"}));
  EXPECT_EQ(changes()[2], tabs({"kanban", "--board=default", "dispatch"}));
  EXPECT_EQ(status_of("t_cut"), "ready");
}

// Never fight Hermes: a task it gave up on stays blocked for a plain retry, and a worker's
// own block stands; only a rate limit at a named reset overrides the breaker.
TEST_F(ActTest, LeavesATaskHermesGaveUpOnAsItIsButForARateLimitWithAReset) {
  start_act();
  h_.board().create_task("t_gave", "task", "researcher");
  const auto run = h_.board().claim("t_gave", DaemonHarness::now());
  seed("t_gave", "blocked", run, false, {{"crashed", run}, {"gave_up", 0}});
  h_.append("t_gave", "openai.APITimeoutError: Request timed out.\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for([&] { return testing::read_file(act_log()).find("Hermes gave up") != std::string::npos; }))
      << testing::read_file(act_log()) << h_.daemon_log();
  EXPECT_TRUE(changes().empty()) << testing::read_file(record_);
  EXPECT_EQ(status_of("t_gave"), "blocked");

  // A task whose breaker trips at this 429 (max_retries 1), whose provider named its reset.
  h_.board().create_task("t_seed", "task", "researcher");
  h_.board().exec("UPDATE tasks SET max_retries = 1 WHERE id = 't_seed'");
  const auto run2 = h_.board().claim("t_seed", DaemonHarness::now());
  seed("t_seed", "blocked", run2, false, {{"crashed", run2}, {"gave_up", 0}});
  h_.append("t_seed", codex_429(DaemonHarness::now() + 2) + "[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_changes(3)) << testing::read_file(act_log()) << h_.daemon_log();
  const auto c = changes();
  EXPECT_EQ(c[0].rfind(tabs({"kanban", "--board=default", "schedule", "--", "t_seed"}), 0), 0u) << c[0];
  EXPECT_EQ(c[1], tabs({"kanban", "--board=default", "unblock", "--", "t_seed"}));
  EXPECT_NE(h_.daemon_log().find("this retry overrides it"), std::string::npos) << h_.daemon_log();
}

TEST_F(ActTest, AStaleDecisionForARunHermesHasMovedPastIsLeftAlone) {
  start_act();
  h_.board().create_task("t_old", "task", "researcher");
  const auto run = h_.board().claim("t_old", DaemonHarness::now() - 5);
  seed("t_old", "running", run + 1, true);            // Hermes already runs the next attempt
  h_.append("t_old", "[kanban-worker-exit] rc=0\n");  // nothing on disk: a block for run 1
  ASSERT_TRUE(wait_for([&] { return testing::read_file(act_log()).find("is stale") != std::string::npos; }))
      << testing::read_file(act_log());
  EXPECT_TRUE(changes().empty());
}

TEST_F(ActTest, ATaskHermesMovesWhileActReadsItIsReadAgainBeforeAnyCommand) {
  // The stand-in's `show` reads the task at once and answers when the test says so.
  start_act({}, {"MEDIC_TEST_SLOW_SHOW_S=30"});
  h_.board().create_task("t_moved", "task", "researcher");
  const auto run = h_.board().claim("t_moved", DaemonHarness::now() - 5);
  seed("t_moved", "running", run, true);
  h_.append("t_moved", "[kanban-worker-exit] rc=0\n");  // nothing on disk: a block for run 1
  ASSERT_TRUE(wait_for([&] { return std::filesystem::exists(state_ + ".read"); })) << testing::read_file(act_log());
  // While that answer is on its way, Hermes's tick ends run 1 and starts run 2.
  restate("t_moved", "running", "crashed", run + 1);
  const auto now = DaemonHarness::now();
  h_.board().event("t_moved", run, "protocol_violation", R"({"pid": 4242, "exit_code": 0})", now);
  ASSERT_TRUE(act_logged("decision=default/t_moved/1: Hermes ended run 1 (protocol_violation)"))
      << testing::read_file(act_log()) << h_.daemon_log();
  std::ofstream(state_ + ".go").put('\n');  // now the read that began before the tick answers
  ASSERT_TRUE(act_logged("task=default/t_moved moved by Hermes while act read it; reading it again"))
      << testing::read_file(act_log()) << h_.daemon_log();
  ASSERT_TRUE(act_logged("is stale")) << testing::read_file(act_log());
  EXPECT_TRUE(changes().empty()) << "run 2 must not be blocked for run 1's exit";
}

TEST_F(ActTest, ABlockAtAnExitWhereHermesBreakerTripsIsLeftToHermes) {
  start_act();
  h_.board().create_task("t_trip", "task", "researcher");
  h_.board().exec("UPDATE tasks SET max_retries=1 WHERE id='t_trip'");
  const auto run = h_.board().claim("t_trip", DaemonHarness::now() - 5);
  seed("t_trip", "running", run, true);
  h_.append("t_trip", "[kanban-worker-exit] rc=0\n");  // nothing on disk: block; Hermes gives up at it
  ASSERT_TRUE(act_logged("Hermes's breaker trips at this exit")) << testing::read_file(act_log()) << h_.daemon_log();
  // Hermes's tick: the run ends with a protocol_violation, and its breaker blocks the task.
  restate("t_trip", "blocked", "crashed");
  const auto now = DaemonHarness::now();
  h_.board().exec("UPDATE task_runs SET ended_at=" + std::to_string(now) +
                  ", outcome='crashed', status='crashed' WHERE id=" + std::to_string(run) +
                  "; UPDATE tasks SET status='blocked', current_run_id=NULL WHERE id='t_trip'");
  h_.board().event("t_trip", run, "protocol_violation", R"({"pid": 4242, "exit_code": 0})", now);
  h_.board().event("t_trip", std::nullopt, "gave_up", R"({"failures": 1})", now);
  ASSERT_TRUE(act_logged("decision=default/t_trip/1: already blocked")) << testing::read_file(act_log());
  EXPECT_TRUE(changes().empty()) << "a block racing Hermes's own is never sent";
}

class ActFallbackTest : public ActTest {
 protected:
  ActFallbackTest()
      : ActTest("policy:\n  fallback_providers:\n    openai-codex: [{provider: xai, model: grok-4.3}]\n") {}
};

TEST_F(ActFallbackTest, MovesARateLimitedTaskToTheFallbacksModelAndProvider) {
  start_act({"--parallel", "1"});
  h_.board().create_task("t_fb", "task", "researcher");
  const auto run = h_.board().claim("t_fb", DaemonHarness::now());
  seed("t_fb", "running", run, true);
  h_.append("t_fb", codex_429(DaemonHarness::now() + 3600) + "[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_changes(1)) << testing::read_file(act_log()) << h_.daemon_log();
  // A provider needs a model (Hermes refuses `none` with --provider); Hermes itself then
  // runs the task again on its next tick, on the fallback.
  EXPECT_EQ(changes()[0], tabs({"kanban", "--board=default", "set-model", "--provider=xai", "--", "t_fb", "grok-4.3"}));
  ASSERT_TRUE(barrier()) << testing::read_file(act_log());
  EXPECT_EQ(changes_besides_barrier(), 1u) << "act did more than move the task:\n" << testing::read_file(record_);
}

// repair_auth: act runs `medic preflight` in the task's profile HOME (a stand-in `codex`
// that is logged in once auth.json is there); repaired, Hermes retries the task itself.
TEST_F(ActTest, RepairsAProfilesCodexLoginWithThePreflight) {
  tools_.file("bin/codex",
              "#!/bin/sh\nif [ -e \"$HOME/.codex/auth.json\" ]; then echo 'Logged in using ChatGPT'; "
              "else echo 'Not logged in'; exit 1; fi\n");
  ::chmod((tools_.path() + "/bin/codex").c_str(), 0755);
  tools_.file("main/.codex/auth.json", "{\"tokens\": {}}");
  tools_.file("profiles/researcher/home/.keep", "");
  const std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  start_act({"--profile-home", tools_.path() + "/profiles/{assignee}/home"},
            {"PATH=" + tools_.path() + "/bin:" + path, "HOME=" + tools_.path() + "/main"});
  h_.board().create_task("t_auth", "Research", "researcher");
  const auto run = h_.board().claim("t_auth", DaemonHarness::now());
  seed("t_auth", "running", run, true);
  h_.append("t_auth", "DEBUG request headers: Authorization: Bearer None\n[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for([&] {
    return testing::read_file(act_log()).find("Hermes retries the task on its next tick") != std::string::npos;
  })) << testing::read_file(act_log())
      << h_.daemon_log();
  const std::string link = tools_.path() + "/profiles/researcher/home/.codex/auth.json";
  EXPECT_TRUE(std::filesystem::is_symlink(link));
  EXPECT_NE(testing::read_file(act_log()).find("--profile-home=" + tools_.path() + "/profiles/researcher/home` exit=0"),
            std::string::npos)
      << testing::read_file(act_log());
  EXPECT_TRUE(changes().empty());
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

TEST_F(ActTest, CompletesWithoutHermesWordWhenHermesNeverEndsTheRun) {
  // No dispatcher ticks (Hermes's gateway is down): after --hermes-wait, act completes the
  // run itself rather than leave the task running for good.
  start_act({"--hermes-wait", "1"});
  TempDir ws(h_.dir());
  complete_task(ws, "t_silent");
  ASSERT_TRUE(wait_for_changes(2)) << testing::read_file(act_log()) << h_.daemon_log();
  EXPECT_NE(testing::read_file(act_log()).find(
                "Hermes did not end the run within 1 s (is its dispatcher running?); applying it"),
            std::string::npos)
      << testing::read_file(act_log());
  EXPECT_EQ(changes()[0].rfind(tabs({"kanban", "--board=default", "complete"}), 0), 0u) << changes()[0];
  EXPECT_EQ(status_of("t_silent"), "done");
  EXPECT_EQ(runs_of("t_silent"), (std::vector<std::string>{"1:completed"}));
}

TEST_F(ActTest, AppliesEachDecisionOnceAcrossRestarts) {
  start_act();
  TempDir ws(h_.dir());
  const auto once = complete_task(ws, "t_once");
  ASSERT_TRUE(act_logged("decision=default/t_once/1 waits up to")) << testing::read_file(act_log());
  stop_act();
  // The wait is kept across act's restart; Hermes ends the run while act is down.
  hermes_tick_ends("t_once", once);
  ASSERT_TRUE(h_.wait_for_log("run=default/t_once/1 decided earlier; Hermes has now ended it")) << h_.daemon_log();
  // Restarted from 0 on purpose: the journal replays the decision, act skips it, and the
  // run_ended it replays plans the kept wait again.
  start_act({"--since", "0"});
  ASSERT_TRUE(wait_for_changes(2)) << testing::read_file(act_log());
  EXPECT_EQ(status_of("t_once"), "done");
  h_.board().create_task("t_quota", "task", "researcher");
  const auto run = h_.board().claim("t_quota", DaemonHarness::now());
  seed("t_quota", "running", run, true);
  h_.append("t_quota", std::string(kProviderLine) +
                           "   📝 Error: HTTP 402: You have run out of credits. Please add more credits.\n"
                           "[kanban-worker-exit] rc=1\n");
  ASSERT_TRUE(wait_for_changes(3)) << testing::read_file(act_log()) << h_.daemon_log();
  const auto c = changes();
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[2].rfind(tabs({"kanban", "--board=default", "block", "--kind=capability", "--", "t_quota"}), 0), 0u)
      << c[2];
  EXPECT_NE(testing::read_file(act_log()).find("decision=default/t_once/1 already applied"), std::string::npos);
}

TEST_F(ActTest, ADryRunPrintsTheCommandsAndChangesNothing) {
  start_act({"--dry-run"});
  TempDir ws(h_.dir());
  complete_task(ws, "t_dry");
  ASSERT_TRUE(wait_for([&] { return testing::read_file(act_out()).find("-- t_dry") != std::string::npos; }))
      << testing::read_file(act_log());
  EXPECT_NE(testing::read_file(act_out()).find("# waits for Hermes to end run 1 of t_dry (at most 90 s), then:"),
            std::string::npos)
      << testing::read_file(act_out());
  EXPECT_NE(testing::read_file(act_out()).find(hermes_ + " kanban --board=default complete '--summary=medic: "),
            std::string::npos)
      << testing::read_file(act_out());
  EXPECT_TRUE(changes().empty()) << "a dry run only reads the task's state";
  EXPECT_EQ(status_of("t_dry"), "running");
  EXPECT_FALSE(std::filesystem::exists(act_state_.path() + "/act.json"));
}

// Timers keep time (issue 10): never before retry_at by the wall clock, at most 1 s after,
// over twenty parked tasks. A task parked only after its time (on a loaded machine each
// stand-in call is a Python start, and act runs four at once) is released at once and
// logged as parked late: that measures the queue, not the timer, and is counted apart.
TEST_F(ActTest, TwentyReleasesComeNeverEarlyAndWithinASecond) {
  start_act();
  const auto reset = DaemonHarness::now() + 30;
  for (int i = 0; i < 20; ++i) {
    const std::string task = "t_many" + std::to_string(i);
    h_.board().create_task(task, "task", "researcher");
    const auto run = h_.board().claim(task, DaemonHarness::now());
    seed(task, "running", run, true);
    h_.append(task, codex_429(reset) + "[kanban-worker-exit] rc=1\n");
  }
  const std::regex timed(R"(timer for \S+ fired (-?\d+) ms after retry_at)");
  const std::regex parked(R"(release for \S+ (-?\d+) ms after retry_at: parked)");
  auto count = [](const std::string& log, const std::regex& re) {
    return static_cast<int>(std::distance(std::sregex_iterator(log.begin(), log.end(), re), std::sregex_iterator()));
  };
  ASSERT_TRUE(wait_for(
      [&] {
        const std::string log = testing::read_file(act_log());
        return count(log, timed) + count(log, parked) >= 20;
      },
      120s))
      << testing::read_file(act_log());
  const std::string log = testing::read_file(act_log());
  long lo = 1 << 30, hi = -(1 << 30);
  for (auto it = std::sregex_iterator(log.begin(), log.end(), timed); it != std::sregex_iterator(); ++it) {
    const long ms = std::stol((*it)[1]);
    lo = std::min(lo, ms);
    hi = std::max(hi, ms);
  }
  for (auto it = std::sregex_iterator(log.begin(), log.end(), parked); it != std::sregex_iterator(); ++it)
    EXPECT_GE(std::stol((*it)[1]), 0) << "a release came before retry_at";
  const int n = count(log, timed);
  EXPECT_EQ(n + count(log, parked), 20);
  ASSERT_GE(n, 1) << "no task was parked before its time: the machine is too loaded to measure the timers\n" << log;
  EXPECT_GE(lo, 0) << "a release came before retry_at";
  EXPECT_LT(hi, 1000) << "a release came more than a second late";
  std::printf("[ lateness ] %d timers: min %ld ms, max %ld ms; %d parked late\n", n, lo, hi, count(log, parked));
}

}  // namespace
}  // namespace medic
