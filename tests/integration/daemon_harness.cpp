#include "integration/daemon_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/json_fields.h"

extern char** environ;

namespace medic::testing {

// The fields as core::json reads them (a missing or mistyped one is the empty value; -1
// for a number).
std::string Message::str(const char* key) const { return core::json::str(doc, key); }

std::vector<std::string> Message::strings(const char* key) const { return core::json::strings(doc, key); }

void write_passing_workspace(const TempDir& ws) {
  ws.file("raw/sources.json", "[\"a\", \"b\"]");
  ws.file("report.md", "# Report\n");
  ws.file("report.html", "<h1>Report</h1>");
  ws.file("state/PROJECT_STATE.md", "all done\n");
  ws.file("state/PROJECT_STATE.html", "<p>all done</p>");
}

std::int64_t Message::num(const char* key) const { return core::json::number_or(doc, key, -1); }

bool Message::is_null(const char* key) const { return doc[key].is_null(); }

SocketClient::SocketClient(const std::string& path, std::optional<std::uint64_t> since) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    fd_ = -1;
    return;
  }
  if (since) subscribe(*since);
}

void SocketClient::subscribe(std::uint64_t since) {
  const std::string req = "{\"op\":\"subscribe\",\"since\":" + std::to_string(since) + "}\n";
  (void)!::write(fd_, req.data(), req.size());
}

void SocketClient::send_raw(const std::string& line) {
  const std::string req = line + "\n";
  (void)!::write(fd_, req.data(), req.size());
}

SocketClient::~SocketClient() {
  if (fd_ >= 0) ::close(fd_);
}

std::optional<Message> SocketClient::next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto nl = buf_.find('\n'); nl != std::string::npos) {
      Message m;
      m.raw = buf_.substr(0, nl);
      buf_.erase(0, nl + 1);
      m.parser = std::make_shared<simdjson::dom::parser>();
      if (m.parser->parse(m.raw).get(m.doc) != simdjson::SUCCESS) {
        throw std::runtime_error("daemon sent invalid JSON: " + m.raw);
      }
      m.type = m.str("type");
      return m;
    }
    if (fd_ < 0) return std::nullopt;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
    char chunk[65536];
    const ssize_t n = ::read(fd_, chunk, sizeof chunk);
    if (n <= 0) {
      ::close(fd_);
      fd_ = -1;
      continue;
    }
    buf_.append(chunk, static_cast<std::size_t>(n));
  }
}

std::optional<Message> SocketClient::next_of(const std::string& type, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    auto m = next(left);
    if (!m) return std::nullopt;
    if (m->type == type) return m;
  }
}

DaemonHarness::DaemonHarness(const std::string& config_yaml) : config_(config_yaml) {
  std::filesystem::create_directories(root() + "/kanban/logs");
  board_ = std::make_unique<HermesBoard>(root() + "/kanban.db");
}

DaemonHarness::~DaemonHarness() { stop(); }

std::int64_t DaemonHarness::now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void DaemonHarness::start() {
  std::vector<std::string> argv{MEDIC_BINARY,  "run",   "--hermes-root", root(),
                                "--state-dir", state(), "--socket",      socket()};
  // The command line overrides the config file, so name the rules only when it does not.
  if (config_.find("rules:") == std::string::npos) {
    argv.push_back("--rules");
    argv.push_back(MEDIC_RULES_DIR);
  }
  if (!config_.empty()) {
    argv.push_back("--config");
    argv.push_back(dir_.file("medic.yaml", config_));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  const std::string log = dir_.path() + "/daemon.log";
  posix_spawn_file_actions_addopen(&fa, 2, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  if (posix_spawn(&pid_, args[0], &fa, nullptr, args.data(), environ) != 0) throw std::runtime_error("spawn medic");
  posix_spawn_file_actions_destroy(&fa);
  // Ready when the socket accepts a connection (bounded wait).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    SocketClient probe(socket());
    if (probe.connected()) return;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("medic run exited at start: " + daemon_log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  throw std::runtime_error("medic run did not open its socket: " + daemon_log());
}

void DaemonHarness::start(const std::string& level) {
  ::setenv("MEDIC_LOG_LEVEL", level.c_str(), 1);
  try {
    start();
  } catch (...) {
    ::unsetenv("MEDIC_LOG_LEVEL");
    throw;
  }
  ::unsetenv("MEDIC_LOG_LEVEL");
}

bool DaemonHarness::wait_until_read(const std::string& task) const {
  std::error_code ec;
  const auto size = std::filesystem::file_size(log_path(task), ec);
  return !ec && wait_for_read_offset(log_path(task), size);
}

void DaemonHarness::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

std::string DaemonHarness::daemon_log() const {
  std::ifstream in(dir_.path() + "/daemon.log");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool DaemonHarness::wait_for_log(const std::string& text, int count, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string log = daemon_log();
    int found = 0;
    for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++found;
    if (found >= count) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

bool DaemonHarness::wait_for_read_offset(const std::string& path, std::uint64_t offset,
                                         std::chrono::milliseconds timeout) const {
  // The checkpoint is compact JSON: {"path":"<path>","dev":…,"ino":…,"offset":N,…}.
  const std::string key = "\"path\":\"" + path + "\"";
  const std::string want = "\"offset\":" + std::to_string(offset) + ",";
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream in(state() + "/state.json");
    std::stringstream s;
    s << in.rdbuf();
    const std::string text = s.str();
    const auto at = text.find(key);
    if (at != std::string::npos && text.find(want, at) < text.find('}', at)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

void DaemonHarness::append(const std::string& task, const std::string& text) const {
  const int fd = ::open(log_path(task).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  (void)!::write(fd, text.data(), text.size());
  ::close(fd);
}

std::int64_t DaemonHarness::start_task(const std::string& task, const std::string& provider) {
  board_->create_task(task, "task " + task, "researcher", {}, provider);
  const auto run = board_->claim(task, now());
  board_->event(task, run, "spawned", "{\"pid\":999999,\"started_at\":" + std::to_string(now()) + "}", now());
  return run;
}

}  // namespace medic::testing
