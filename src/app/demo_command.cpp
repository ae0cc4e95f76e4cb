#include "app/demo_command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <simdjson.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/json_fields.h"
#include "core/text.h"
#include "publish/decision_codec.h"
#include "rules/failure_class.h"
#include "rules/policy.h"

extern char** environ;

namespace medic::app {

// Generated from src/app/demo/ by cmake/embed_files.cmake: the worker logs of the
// incidents (templates) and Hermes's schema.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_demo_files();

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// A file in an incident's workspace: written before the run starts ("before"), or by the
// worker during its run (state files must change after the run started to count).
struct WorkspaceFile {
  const char* path;
  const char* text;
  bool during_run;
};

struct Incident {
  const char* task;
  const char* title;
  const char* assignee;
  const char* what;
  std::vector<WorkspaceFile> workspace;  // empty: the task has no workspace
};

// The seed incidents (seeds/ and reference/hermes-kanban.md §4), in the order played. The
// first two are the seed article's own: a worker that collected its raw evidence and then
// hit a Codex timeout (rc=0, no Kanban call), and one that did all its work but never
// called kanban_complete.
const Incident kIncidents[] = {
    {"t_52cac9ce",
     "Market research: agent dispatchers",
     "researcher",
     "the seed's incident: raw evidence saved, then a Codex timeout, rc=0 without kanban_complete",
     {{"raw/search-results.json", "{\"query\": \"agent dispatcher recovery\", \"results\": 12}\n", true}}},
    {"t_9e1f3b07",
     "Write the release notes",
     "writer",
     "every deliverable written, but rc=0 without kanban_complete (a protocol violation)",
     {{"raw/changelog.json", "{\"changes\": 14}\n", false},
      {"release-notes.md", "# Release notes\n\n14 changes.\n", true},
      {"release-notes.html", "<h1>Release notes</h1><p>14 changes.</p>\n", true},
      {"state/PROJECT_STATE.md", "# State\n\nRelease notes written.\n", true},
      {"state/PROJECT_STATE.html", "<p>Release notes written.</p>\n", true}}},
    {"t_77ac35a7", "Block C re-review", "tony", "Codex 429 usage limit, then rc=0 (seed 003)", {}},
    {"t_41f0d2aa", "Weekly digest", "writer", "kanban-worker skill missing (#23725)", {}},
    {"t_23896aa1", "Draft the EU launch note", "editor", "HTTP 401 without the residency header (#23896)", {}},
    {"t_55539bb0", "Summarise the incident log", "analyst", "profile without Codex auth: Bearer None, rc=0", {}},
};

void write_file(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

std::string_view embedded(std::string_view name) {
  for (const auto& [n, text] : embedded_demo_files()) {
    if (n == name) return text;
  }
  return {};
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) {
    s.replace(at, from.size(), to);
  }
  return s;
}

class Board {
 public:
  explicit Board(const std::string& path) {
    sqlite3_open(path.c_str(), &db_);
    sqlite3_busy_timeout(db_, 5000);
    exec("PRAGMA journal_mode=WAL");
    exec(std::string(embedded("hermes_schema.sql")));
  }
  ~Board() { sqlite3_close(db_); }
  bool exec(const std::string& sql) {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
      std::fprintf(stderr, "medic demo: sqlite: %s\n", err ? err : "?");
      sqlite3_free(err);
      return false;
    }
    return true;
  }
  std::int64_t last_id() const { return sqlite3_last_insert_rowid(db_); }

 private:
  sqlite3* db_ = nullptr;
};

std::int64_t epoch_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string clock_time(std::int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  char buf[32];
  std::strftime(buf, sizeof buf, "%H:%M:%S", std::localtime(&t));
  return buf;
}

class Client {
 public:
  bool connect(const std::string& path) {
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) return true;
    ::close(fd_);
    fd_ = -1;
    return false;
  }
  ~Client() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool send(const std::string& line) {
    const std::string out = line + "\n";
    return ::write(fd_, out.data(), out.size()) == static_cast<ssize_t>(out.size());
  }
  std::optional<std::string> next(int timeout_ms) {
    for (;;) {
      if (auto nl = buf_.find('\n'); nl != std::string::npos) {
        std::string line = buf_.substr(0, nl);
        buf_.erase(0, nl + 1);
        return line;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, timeout_ms) <= 0) return std::nullopt;
      char chunk[8192];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) return std::nullopt;
      buf_.append(chunk, static_cast<std::size_t>(n));
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
};

void append(const std::string& path, const std::string& text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return;
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

using core::json::number_or;
using core::json::str;

}  // namespace

int run_demo(const cli::DemoOptions& options) {
  char tmpl[] = "/tmp/medic-demo-XXXXXX";
  if (!::mkdtemp(tmpl)) {
    std::perror("medic demo: mkdtemp");
    return 2;
  }
  const std::string dir = tmpl;
  const std::string root = dir + "/hermes";
  const std::string logs = root + "/kanban/logs";
  fs::create_directories(logs);
  Board board(root + "/kanban.db");

  // The real daemon, as a child process of this binary.
  const std::string socket = dir + "/medic.sock";
  std::vector<std::string> argv{"/proc/self/exe", "run",          "--hermes-root", root,
                                "--state-dir",    dir + "/state", "--socket",      socket};
  if (options.rules_dir) {
    argv.push_back("--rules");
    argv.push_back(*options.rules_dir);
  }
  std::vector<char*> args;
  args.reserve(argv.size() + 1);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string daemon_log = dir + "/medic.log";
  posix_spawn_file_actions_addopen(&fa, 2, daemon_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  if (posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, args.data(), environ) != 0) {
    std::fprintf(stderr, "medic demo: cannot start the daemon\n");
    return 2;
  }
  posix_spawn_file_actions_destroy(&fa);
  auto stop = [&] {
    ::kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
  };

  Client client;
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (!client.connect(socket)) {
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "medic demo: the daemon did not start; its log is %s\n", daemon_log.c_str());
      stop();
      return 2;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // Subscribing at once, as a dispatcher does: a client that sends nothing is held for
  // the daemon's subscribe grace (500 ms) before its first live decision.
  if (!client.send(R"({"op":"subscribe","since":0})")) {
    std::fprintf(stderr, "medic demo: cannot subscribe: %s\n", std::strerror(errno));
    stop();
    return 2;
  }
  client.next(2000);  // hello

  std::printf("medic demo: a throw-away Hermes root at %s\n", root.c_str());
  std::printf("  board %s/kanban.db (Hermes's schema), daemon pid %d, socket %s\n\n", root.c_str(), pid,
              socket.c_str());
  const std::int64_t resets_at = epoch_now() + 3600;
  int decided = 0;
  simdjson::dom::parser parser;
  for (const Incident& inc : kIncidents) {
    const std::string task = inc.task;
    // Workspaces sit beside the Hermes root, beneath the daemon's default workspace roots.
    const std::string ws = inc.workspace.empty() ? std::string() : dir + "/work/" + task;
    for (const auto& f : inc.workspace) {
      if (!f.during_run) write_file(ws + "/" + f.path, f.text);
    }
    if (!ws.empty()) fs::create_directories(ws);
    board.exec("INSERT INTO tasks (id, title, assignee, status, created_at, workspace_kind, workspace_path) VALUES ('" +
               task + "','" + inc.title + "','" + inc.assignee + "','ready'," + std::to_string(epoch_now()) + "," +
               (ws.empty() ? "'scratch',NULL" : "'dir','" + ws + "'") + ")");
    board.exec("INSERT INTO task_runs (task_id, profile, status, started_at) VALUES ('" + task + "','" + inc.assignee +
               "','running'," + std::to_string(epoch_now()) + ")");
    const std::string run = std::to_string(board.last_id());
    board.exec("UPDATE tasks SET status='running', current_run_id=" + run + " WHERE id='" + task + "'");
    board.exec("INSERT INTO task_events (task_id, run_id, kind, payload, created_at) VALUES ('" + task + "'," + run +
               ",'claimed','{\"run_id\":" + run + "}'," + std::to_string(epoch_now()) + ")");
    std::printf("▶ %s  %s\n  %s\n", inc.task, inc.title, inc.what);
    if (!ws.empty()) std::printf("  workspace %s\n", ws.c_str());
    for (const auto& f : inc.workspace) {
      if (f.during_run) write_file(ws + "/" + f.path, f.text);  // what the worker wrote
    }
    // The worker writes its console output line by line; the last line is the exit
    // trailer. The delay is measured from that write to the decision read here.
    const std::string text =
        replace_all(std::string(embedded(task + ".log")), "{resets_at}", std::to_string(resets_at));
    const std::string path = logs + "/" + task + ".log";
    std::size_t start = 0;
    Clock::time_point exited{};
    while (start < text.size()) {
      const std::size_t nl = text.find('\n', start);
      const std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start + 1);
      start = nl == std::string::npos ? text.size() : nl + 1;
      if (line.rfind("[kanban-worker-exit]", 0) == 0) {
        exited = Clock::now();
      } else {
        std::this_thread::sleep_for(std::chrono::milliseconds(15));
      }
      append(path, line);
    }
    std::optional<std::string> line;
    while ((line = client.next(5000))) {
      simdjson::dom::element msg;
      if (parser.parse(*line).get(msg) != simdjson::SUCCESS) continue;
      const std::string type = str(msg, "type");
      if (type == "provider_health") {
        std::printf("  ⚕ provider %s unhealthy until %s\n", str(msg, "provider").c_str(),
                    clock_time(number_or(msg, "unhealthy_until")).c_str());
        continue;
      }
      if (type != "decision") continue;
      auto decoded = publish::decode_decision(*line);  // the codec act and subscribe read with
      if (!decoded) continue;
      const decide::Decision& d = decoded->decision;
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - exited).count();
      std::string when;
      if (d.retry_at)
        when = " at " + clock_time(*d.retry_at) + " (in " + std::to_string(*d.retry_at - epoch_now()) + " s)";
      const std::string& next = d.next_command;
      std::printf("  ⇒ %s → %s%s%s   [%.2f ms after the worker's exit]\n",
                  d.failure_class ? std::string(rules::to_string(*d.failure_class)).c_str() : "",
                  std::string(rules::to_string(d.action)).c_str(), when.c_str(),
                  d.use_provider.empty() ? "" : (" on " + d.use_provider).c_str(), ms);
      std::printf("    %s\n", d.reason.c_str());
      if (d.evidence) {
        std::printf("    evidence: %s, %s.log line %llu\n", d.evidence->rule.c_str(), inc.task,
                    static_cast<unsigned long long>(d.evidence->line));
      }
      if (!d.missing.empty()) std::printf("    missing: %s\n", core::join(d.missing).c_str());
      if (d.action == rules::Action::Complete) {
        for (const auto& c : d.checked) std::printf("    checked: %s\n", c.c_str());
      }
      if (!next.empty()) std::printf("    next: %s\n", next.c_str());
      std::printf("\n");
      ++decided;
      break;
    }
  }
  stop();
  std::printf("%d of %zu incidents decided. The daemon's log: %s\n", decided, std::size(kIncidents),
              daemon_log.c_str());
  // The daemon wrote every decision to the board's state report before it stopped.
  const std::string report = dir + "/state/state/default/PROJECT_STATE.html";
  if (::access(report.c_str(), R_OK) == 0) std::printf("The state report: %s\n", report.c_str());
  return decided == static_cast<int>(std::size(kIncidents)) ? 0 : 1;
}

}  // namespace medic::app
