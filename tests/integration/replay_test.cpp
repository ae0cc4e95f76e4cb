// Golden traces of real Hermes (tests/data/traces/, recorded by scripts/hermes_trace.py from
// Hermes's real dispatcher, CLI and worker tools at a pinned commit) played to the real
// medic binary. CI cannot run Hermes; these traces are what it wrote, step by step: board
// rows and events as Hermes committed them, every byte its workers appended to their
// logs, log rotations, the workers' workspaces, and each worker's exit and reaping. The
// replay recreates each worker as a real child process of this test (the dispatcher's
// role), so its death is a real pidfd event and, until the trace reaps it, a real zombie
// whose exit status medic reads. Each scenario's decisions are asserted; a change fails.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "integration/daemon_harness.h"

namespace medic {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using testing::DaemonHarness;
using testing::HermesBoard;
using testing::SocketClient;

std::string b64decode(std::string_view in) {
  static const std::string chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  int val = 0, bits = -8;
  for (char c : in) {
    if (c == '=') break;
    const auto p = chars.find(c);
    if (p == std::string::npos) continue;
    val = (val << 6) + static_cast<int>(p);
    bits += 6;
    if (bits >= 0) {
      out.push_back(static_cast<char>((val >> bits) & 0xFF));
      bits -= 8;
    }
  }
  return out;
}

std::int64_t now_s() { return DaemonHarness::now(); }

// A worker stand-in: a real child that waits until told to exit with a status.
struct Worker {
  pid_t pid = -1;
  int pipe_w = -1;
  bool reaped = false;
};

Worker spawn_worker() {
  int p[2];
  if (::pipe(p) != 0) throw std::runtime_error("pipe");
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(p[1]);
    int status = 0;
    const ssize_t n = ::read(p[0], &status, sizeof status);
    if (n == static_cast<ssize_t>(sizeof status) && (status & 0x7f) != 0) {
      ::signal(status & 0x7f, SIG_DFL);
      ::kill(::getpid(), status & 0x7f);
    }
    ::_exit(n == static_cast<ssize_t>(sizeof status) ? (status >> 8) & 0xff : 0);
  }
  ::close(p[0]);
  return Worker{pid, p[1], false};
}

class Replay {
 public:
  Replay(DaemonHarness& h, const std::string& path) : h_(h) {
    if (parser_.load(path).get(doc_) != simdjson::SUCCESS) throw std::runtime_error("cannot parse " + path);
  }
  ~Replay() {
    for (auto& [rec, w] : workers_) {
      if (!w.reaped) {
        ::kill(w.pid, SIGKILL);
        ::waitpid(w.pid, nullptr, 0);
      }
      ::close(w.pipe_w);
    }
  }

  std::string journal_mode() const {
    std::string_view m;
    return doc_["journal_mode"].get_string().get(m) == simdjson::SUCCESS ? std::string(m) : "wal";
  }
  std::map<std::string, std::string> scenario_keys() const {  // task id -> scenario key
    std::map<std::string, std::string> out;
    simdjson::dom::object sc;
    if (doc_["scenarios"].get_object().get(sc) != simdjson::SUCCESS) return out;
    for (auto [task, v] : sc) {
      std::string_view key;
      if (v["key"].get_string().get(key) == simdjson::SUCCESS) out[std::string(task)] = std::string(key);
    }
    return out;
  }

  void open_boards(const std::string& journal) {
    boards_["default"] = &h_.board();
    fs::create_directories(h_.root() + "/kanban/boards/proj/logs");
    proj_ = std::make_unique<HermesBoard>(h_.root() + "/kanban/boards/proj/kanban.db");
    boards_["proj"] = proj_.get();
    if (journal != "wal") {
      for (auto& [slug, b] : boards_) b->exec("PRAGMA journal_mode=DELETE");
    }
  }

  // Plays every step in order; gaps longer than `max_gap` are shortened to it (the order
  // of what Hermes did, not its idle seconds, is what decides).
  void play(std::chrono::milliseconds max_gap = 300ms) {
    simdjson::dom::array steps;
    ASSERT_EQ(doc_["steps"].get_array().get(steps), simdjson::SUCCESS);
    // A worker's files are in its workspace by the time it exits, but the recorder snapshots
    // them only when it sees the exit, which can be after the trailer it read from the log:
    // each "files" step is played right after the spawn of that task's run instead.
    std::vector<simdjson::dom::element> kept;
    std::map<std::string, std::size_t> last_spawn;               // task -> index in `kept` after its spawn
    std::multimap<std::size_t, simdjson::dom::element> hoisted;  // played before kept[index]
    for (simdjson::dom::element step : steps) {
      std::string_view op, task, kind;
      if (step["op"].get_string().get(op) != simdjson::SUCCESS) op = {};
      if (op == "event" && step["event"]["kind"].get_string().get(kind) == simdjson::SUCCESS && kind == "spawned" &&
          step["event"]["task_id"].get_string().get(task) == simdjson::SUCCESS) {
        kept.push_back(step);
        last_spawn[std::string(task)] = kept.size();
        continue;
      }
      if (op == "files" && step["task_id"].get_string().get(task) == simdjson::SUCCESS) {
        if (auto it = last_spawn.find(std::string(task)); it != last_spawn.end()) {
          hoisted.emplace(it->second, step);
          continue;
        }
      }
      kept.push_back(step);
    }
    std::vector<simdjson::dom::element> order;
    for (std::size_t i = 0; i <= kept.size(); ++i) {
      for (auto [h, end] = hoisted.equal_range(i); h != end; ++h) order.push_back(h->second);
      if (i < kept.size()) order.push_back(kept[i]);
    }
    std::int64_t last_t = 0;
    for (simdjson::dom::element step : order) {
      std::int64_t t = 0;
      ASSERT_EQ(step["t_ms"].get_int64().get(t), simdjson::SUCCESS);
      const auto gap = std::chrono::milliseconds(std::max<std::int64_t>(0, t - last_t));
      if (gap.count() > 0) std::this_thread::sleep_for(std::min(gap, max_gap));
      last_t = t;
      apply(step);
    }
  }

 private:
  std::string board_of(simdjson::dom::element step) {
    std::string_view b;
    return step["board"].get_string().get(b) == simdjson::SUCCESS ? std::string(b) : "default";
  }
  std::string logs_dir(const std::string& board) const {
    return board == "default" ? h_.root() + "/kanban/logs" : h_.root() + "/kanban/boards/" + board + "/logs";
  }
  std::string workspace_for(const std::string& task) {
    const std::string dir = h_.dir() + "/ws/" + task;
    fs::create_directories(dir);
    return dir;
  }

  void upsert_rows(HermesBoard& b, const std::string& table, simdjson::dom::array rows) {
    auto& cols = columns_[table + "@" + std::to_string(reinterpret_cast<std::uintptr_t>(&b))];
    if (cols.empty()) {
      for (auto& c : b.columns(table)) cols.insert(c);
    }
    static const std::set<std::string> kTimes = {"created_at", "started_at",        "completed_at",     "claim_expires",
                                                 "ended_at",   "last_heartbeat_at", "worker_started_at"};
    for (simdjson::dom::element r : rows) {
      simdjson::dom::object obj;
      if (r.get_object().get(obj) != simdjson::SUCCESS) continue;
      std::string task;
      std::vector<std::pair<std::string, HermesBoard::Value>> row;
      for (auto [k, v] : obj) {
        const std::string col(k);
        if (!cols.count(col)) continue;  // a column of a newer Hermes schema than the test's
        HermesBoard::Value val;
        std::int64_t n = 0;
        double d = 0;
        std::string_view sv;
        if (v.get_int64().get(n) == simdjson::SUCCESS)
          val = kTimes.count(col) ? replay_time(n) : n;
        else if (v.get_double().get(d) == simdjson::SUCCESS)
          val = d;
        else if (v.get_string().get(sv) == simdjson::SUCCESS)
          val = std::string(sv);
        if (col == "id" && table == "tasks") task = std::get<std::string>(val);
        row.emplace_back(col, std::move(val));
      }
      for (auto& [col, val] : row) {
        if (col == "workspace_path" && std::holds_alternative<std::string>(val) &&
            !std::get<std::string>(val).empty()) {
          val = workspace_for(task);
        }
        if (col == "worker_pid" && std::holds_alternative<std::int64_t>(val)) {
          if (auto w = workers_.find(std::get<std::int64_t>(val)); w != workers_.end())
            val = std::int64_t{w->second.pid};
        }
      }
      b.upsert(table, row);
    }
  }

  // A recorded time moves to the replay's clock when it is first seen, and keeps that value
  // each time a later step rewrites the row: a run's started_at must not move past the
  // files its worker wrote after the claim.
  std::int64_t replay_time(std::int64_t recorded) { return times_.try_emplace(recorded, now_s()).first->second; }

  Worker& worker_for(std::int64_t recorded) {
    auto it = workers_.find(recorded);
    if (it == workers_.end()) it = workers_.emplace(recorded, spawn_worker()).first;
    return it->second;
  }

  void apply(simdjson::dom::element step) {
    std::string_view op;
    ASSERT_EQ(step["op"].get_string().get(op), simdjson::SUCCESS);
    const std::string board = board_of(step);
    if (op == "rows") {
      HermesBoard& b = *boards_.at(board);
      simdjson::dom::array tasks, runs;
      if (step["tasks"].get_array().get(tasks) == simdjson::SUCCESS) upsert_rows(b, "tasks", tasks);
      if (step["task_runs"].get_array().get(runs) == simdjson::SUCCESS) upsert_rows(b, "task_runs", runs);
    } else if (op == "event") {
      simdjson::dom::element e = step["event"];
      std::string_view task, kind, payload;
      std::int64_t id = 0, run = 0;
      ASSERT_EQ(e["task_id"].get_string().get(task), simdjson::SUCCESS);
      ASSERT_EQ(e["kind"].get_string().get(kind), simdjson::SUCCESS);
      ASSERT_EQ(e["id"].get_int64().get(id), simdjson::SUCCESS);
      const bool has_run = e["run_id"].get_int64().get(run) == simdjson::SUCCESS;
      std::string text;
      if (e["payload"].get_string().get(payload) == simdjson::SUCCESS) text = std::string(payload);
      if (kind == "spawned") {
        // The worker of this run is a real child of the test: its pid goes in the payload.
        simdjson::dom::parser p;
        simdjson::dom::element pe;
        std::int64_t pid = 0;
        if (p.parse(text).get(pe) == simdjson::SUCCESS && pe["pid"].get_int64().get(pid) == simdjson::SUCCESS) {
          text = "{\"pid\": " + std::to_string(worker_for(pid).pid) + "}";
        }
      }
      std::vector<std::pair<std::string, HermesBoard::Value>> row{
          {"id", id},
          {"task_id", std::string(task)},
          {"run_id", has_run ? HermesBoard::Value{run} : HermesBoard::Value{}},
          {"kind", std::string(kind)},
          {"payload", text.empty() ? HermesBoard::Value{} : HermesBoard::Value{text}},
          {"created_at", now_s()}};
      boards_.at(board)->upsert("task_events", row);
    } else if (op == "spawn") {
      std::int64_t pid = 0;
      ASSERT_EQ(step["pid"].get_int64().get(pid), simdjson::SUCCESS);
      worker_for(pid);
    } else if (op == "log") {
      std::string_view file, data;
      ASSERT_EQ(step["file"].get_string().get(file), simdjson::SUCCESS);
      ASSERT_EQ(step["data_b64"].get_string().get(data), simdjson::SUCCESS);
      const std::string bytes = b64decode(data);
      const int fd =
          ::open((logs_dir(board) + "/" + std::string(file)).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      ASSERT_GE(fd, 0);
      ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
      ::close(fd);
    } else if (op == "rotate") {
      std::string_view file;
      ASSERT_EQ(step["file"].get_string().get(file), simdjson::SUCCESS);
      const std::string p = logs_dir(board) + "/" + std::string(file);
      std::error_code ec;
      fs::rename(p + ".1", p + ".2", ec);
      fs::rename(p, p + ".1", ec);
    } else if (op == "files") {
      std::string_view task;
      simdjson::dom::object files;
      ASSERT_EQ(step["task_id"].get_string().get(task), simdjson::SUCCESS);
      ASSERT_EQ(step["files"].get_object().get(files), simdjson::SUCCESS);
      const std::string dir = workspace_for(std::string(task));
      for (auto [rel, data] : files) {
        std::string_view b64;
        if (data.get_string().get(b64) != simdjson::SUCCESS) continue;
        const fs::path p = fs::path(dir) / std::string(rel);
        fs::create_directories(p.parent_path());
        std::ofstream(p, std::ios::binary) << b64decode(b64);
      }
    } else if (op == "exit") {
      std::int64_t pid = 0, status = 0;
      ASSERT_EQ(step["pid"].get_int64().get(pid), simdjson::SUCCESS);
      ASSERT_EQ(step["status"].get_int64().get(status), simdjson::SUCCESS);
      Worker& w = worker_for(pid);
      const int st = static_cast<int>(status);
      ASSERT_EQ(::write(w.pipe_w, &st, sizeof st), static_cast<ssize_t>(sizeof st));
    } else if (op == "reap") {
      std::int64_t pid = 0;
      ASSERT_EQ(step["pid"].get_int64().get(pid), simdjson::SUCCESS);
      auto it = workers_.find(pid);
      if (it != workers_.end() && !it->second.reaped) {
        ::waitpid(it->second.pid, nullptr, 0);
        it->second.reaped = true;
      }
    }
  }

  DaemonHarness& h_;
  simdjson::dom::parser parser_;
  simdjson::dom::element doc_;
  std::unique_ptr<HermesBoard> proj_;
  std::map<std::string, HermesBoard*> boards_;
  std::map<std::int64_t, Worker> workers_;  // recorded pid -> live stand-in
  std::map<std::string, std::set<std::string>> columns_;
  std::map<std::int64_t, std::int64_t> times_;  // recorded time -> the replay's
};

// What medic must decide for each scenario's runs, in run order: class/action (run-level
// decisions; task-level ones such as ".../gave_up" are listed separately).
const std::map<std::string, std::vector<std::string>> kExpected = {
    {"A_pv429_then_complete", {"rate_limit/retry_at"}},
    {"B_skill_then_complete", {"env_missing/repair_env"}},
    {"C_complete", {}},
    {"D_worker_blocks", {"none/ignore"}},
    {"E_exit75_then_complete", {"rate_limit/retry_at"}},
    {"F_timeout_then_complete", {"timeout/retry"}},
    {"G_crash_gave_up", {"none/block"}},
    {"H_pv_silent_gave_up", {"protocol_violation/block"}},
    {"P_proj_pv429_then_complete", {"rate_limit/retry_at"}},
    {"Q_pv_silent_then_complete", {"protocol_violation/block"}},
    {"R_pv_with_evidence_then_complete", {"protocol_violation/resume"}},
    {"S_pv_artifacts_pass_then_complete", {"protocol_violation/complete"}},
};

class ReplayTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ReplayTest, RealHermesTraceGetsTheRightDecisionOncePerRun) {
  const std::string path = std::string(MEDIC_TEST_DATA_DIR) + "/traces/" + GetParam() + ".json";
  ASSERT_TRUE(fs::exists(path)) << "missing golden trace " << path << " (scripts/hermes_trace.py records it)";
  DaemonHarness h;
  Replay replay(h, path);
  replay.open_boards(replay.journal_mode());
  h.start();
  SocketClient client(h.socket(), 0);
  replay.play();
  // Collect until the stream is quiet.
  std::vector<testing::Message> decisions;
  while (auto m = client.next_of("decision", 2500ms)) decisions.push_back(std::move(*m));
  h.stop();

  const auto keys = replay.scenario_keys();
  ASSERT_EQ(keys.size(), kExpected.size()) << "the trace's scenarios are not the expected twelve";
  std::map<std::string, std::vector<std::string>> got;
  std::set<std::string> ids;
  for (const auto& d : decisions) {
    const std::string id = d.str("id");
    EXPECT_TRUE(ids.insert(id).second) << "decision id twice: " << id;
    EXPECT_NE(id.substr(id.size() - 2), "/0") << d.raw;
    auto k = keys.find(d.str("task_id"));
    ASSERT_NE(k, keys.end()) << "a decision for a task outside the trace: " << d.raw;
    const std::string cls = d.is_null("class") ? "none" : d.str("class");
    if (id.find("/gave_up") != std::string::npos || id.find("/blocked") != std::string::npos) {
      got[k->second + " (task-level)"].push_back(cls + "/" + d.str("action"));
      continue;
    }
    got[k->second].push_back(cls + "/" + d.str("action"));
  }
  for (const auto& [key, want] : kExpected) {
    EXPECT_EQ(got[key], want) << key << "\n" << h.daemon_log();
  }
  for (const auto& [key, list] : got) {
    if (key.find("(task-level)") != std::string::npos) ADD_FAILURE() << "unexpected " << key << ": " << list.front();
  }
}

INSTANTIATE_TEST_SUITE_P(Hermes, ReplayTest, ::testing::Values("observe", "trailer", "wal", "rotate"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace medic
