#pragma once
// End-to-end harness: a temporary Hermes root with a real board (Hermes's schema), the
// real `medic run` binary as a child process, worker logs appended by a real writer, and
// a client on the daemon's Unix socket. Waits are bounded by deadlines that fail the test.

#include <simdjson.h>
#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "integration/process.h"
#include "support/hermes_board.h"

namespace medic::testing {

/// One parsed NDJSON message from the socket, with its raw text.
struct Message {
  std::string raw;
  std::string type;
  simdjson::dom::element doc;
  std::shared_ptr<simdjson::dom::parser> parser;  // keeps doc alive
  std::string str(const char* key) const;
  std::int64_t num(const char* key) const;
  bool is_null(const char* key) const;
  std::vector<std::string> strings(const char* key) const;  // a list of strings; [] if absent
};

/// A workspace every default acceptance check passes (DESIGN 5): evidence under raw/, a
/// non-empty .md and .html, and state files written now.
void write_passing_workspace(const TempDir& ws);

class SocketClient {
 public:
  explicit SocketClient(const std::string& path, std::optional<std::uint64_t> since = std::nullopt);
  ~SocketClient();
  /// The next message, or nullopt when none arrives within `timeout`.
  std::optional<Message> next(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  /// The next message of `type` (others are skipped).
  std::optional<Message> next_of(const std::string& type,
                                 std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));
  bool connected() const { return fd_ >= 0; }
  void subscribe(std::uint64_t since);
  /// Sends `line` and a newline as they are (requests a well-behaved client never sends).
  void send_raw(const std::string& line);

 private:
  int fd_ = -1;
  std::string buf_;
};

class DaemonHarness {
 public:
  explicit DaemonHarness(const std::string& config_yaml = {});
  ~DaemonHarness();

  void start();
  /// Starts the daemon at MEDIC_LOG_LEVEL `level`, for a test that waits for a line the
  /// daemon logs only there (debug: deferred exits, watched pids; trace: each event).
  void start(const std::string& level);
  void stop();  // SIGTERM, wait
  std::string root() const { return dir_.path() + "/root"; }
  /// The directory holding the Hermes root: beneath the daemon's default workspace roots.
  std::string dir() const { return dir_.path(); }
  std::string socket() const { return dir_.path() + "/s.sock"; }
  std::string state() const { return dir_.path() + "/state"; }
  std::string log_path(const std::string& task) const { return root() + "/kanban/logs/" + task + ".log"; }
  std::string daemon_log() const;
  /// Waits until the daemon's log holds `text` `count` times; false at the deadline.
  bool wait_for_log(const std::string& text, int count = 1,
                    std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) const;
  /// Waits until the daemon's checkpoint (state.json, written each second) records `path`
  /// read up to `offset`: it has read and scanned the file that far. False at the deadline.
  bool wait_for_read_offset(const std::string& path, std::uint64_t offset,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(20000)) const;
  /// Waits until the daemon has read the task's log to its current end.
  bool wait_until_read(const std::string& task) const;
  HermesBoard& board() { return *board_; }
  pid_t pid() const { return pid_; }

  /// Appends to a worker log as a worker does (O_APPEND write).
  void append(const std::string& task, const std::string& text) const;
  /// A task with a claimed run; returns the run id.
  std::int64_t start_task(const std::string& task, const std::string& provider = {});
  static std::int64_t now();

 private:
  TempDir dir_;
  std::string config_;
  std::unique_ptr<HermesBoard> board_;
  pid_t pid_ = -1;
};

}  // namespace medic::testing
