#pragma once
// Reads one Hermes Kanban board (SQLite, WAL) read-only: the task_events after a cursor
// (id is monotonic, so it is the cursor) and the task rows they refer to. medic never
// writes Hermes's database; Hermes's own CLI is its only writer.
// Thread: one owner (the loop thread). Errors: Result; a payload that is not valid JSON
// is counted and its event skipped.

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"

namespace medic::kanban {

/// The event kinds that mean a worker's run ended (DESIGN.md §3 exit (c)).
bool is_exit_kind(std::string_view kind);

struct KanbanEvent {
  std::int64_t id = 0;
  std::string task_id;
  std::optional<std::int64_t> run_id;
  std::string kind;
  std::int64_t created_at = 0;
  // Payload fields medic uses (absent when the payload lacks them).
  std::optional<std::int64_t> pid;
  std::optional<int> exit_code;
  std::optional<std::int64_t> started_at;
  std::string reason;      // blocked {reason}
  std::string block_kind;  // blocked {kind}
  // The payload was not a JSON object: the fields above are absent, but the kind and the
  // run still say what happened (a `crashed` with a garbled payload still ended its run).
  bool malformed = false;
};

/// Fills the payload fields medic reads from a task_events payload; false when the payload
/// is not a JSON object (the caller marks the event malformed and keeps its kind and run).
bool parse_event_payload(std::string_view text, KanbanEvent& e);

/// What Hermes's breaker counts for a task (kanban_db.py _record_task_failure and
/// _protocol_violation_streak at aaf96885), read when one of its runs is decided.
struct FailureHistory {
  int consecutive_failures = 0;
  std::optional<int> max_retries;
  int protocol_violation_streak = 0;  // closed runs newest first; rate_limited skipped
  bool run_closed = false;            // the run asked about has ended_at set
};

/// Kanban calls that end a run on purpose (the worker's kanban_complete, kanban_block,
/// kanban_request_review): after one, the run's exit is not a failure.
bool is_terminal_call_kind(std::string_view kind);

struct TaskRow {
  std::string id;
  std::string title;
  std::string assignee;
  std::string status;
  std::string workspace_path;
  std::string provider_override;
  std::string model_override;
  std::optional<std::int64_t> current_run_id;
  std::optional<std::int64_t> worker_pid;
  std::optional<int> max_retries;
  int consecutive_failures = 0;
  std::optional<std::int64_t> last_run_id;  // its newest task_runs row
  std::optional<std::int64_t> last_run_started_at;
};

class BoardReader {
 public:
  [[nodiscard]] static core::Result<BoardReader> open(const std::string& db_path);

  /// Events with id > cursor, oldest first, at most `limit`.
  [[nodiscard]] core::Result<std::vector<KanbanEvent>> events_after(std::int64_t cursor, int limit = 1000);
  [[nodiscard]] core::Result<std::optional<TaskRow>> task(const std::string& id);
  /// Tasks in `todo` that list `parent` among their parents (task_links).
  [[nodiscard]] core::Result<std::vector<std::string>> waiting_children(const std::string& parent);
  /// The `blocked` parents of `child`, when `child` is in `todo` waiting on them.
  [[nodiscard]] core::Result<std::vector<std::string>> blocked_parents(const std::string& child);
  /// The task's failure counters and the state of run `run_id`.
  [[nodiscard]] core::Result<FailureHistory> failure_history(const std::string& task, std::int64_t run_id);
  /// The highest event id created before `epoch` (0: none): where a restart that lost its
  /// checkpoint resumes reading.
  [[nodiscard]] core::Result<std::int64_t> last_event_before(std::int64_t epoch);
  /// The highest event id now on the board (where a first start begins).
  [[nodiscard]] core::Result<std::int64_t> last_event_id();

  const std::string& path() const { return path_; }
  std::uint64_t bad_payloads() const { return bad_payloads_; }

 private:
  struct DbClose {
    void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
  };
  struct StmtFinalize {
    void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
  };
  // A statement lent out by prepare(): a cached one is reset (ending its read transaction)
  // and kept when the lease ends, one prepared while the cached one was lent is finalized.
  struct StmtRelease {
    bool* lent = nullptr;  // the cache entry's flag; null: not cached
    void operator()(sqlite3_stmt* s) const;
  };
  struct CachedStatement {
    std::unique_ptr<sqlite3_stmt, StmtFinalize> stmt;
    bool lent = false;
  };
  using Statement = std::unique_ptr<sqlite3_stmt, StmtRelease>;
  BoardReader() = default;
  /// The statement for `sql` (a string literal: the cache is keyed by its address),
  /// compiled once per reader; each decision reads the board four or five times.
  [[nodiscard]] core::Result<Statement> prepare(const char* sql);
  tl::unexpected<core::Error> failed() const;
  [[nodiscard]] core::Result<std::vector<std::string>> ids(const char* sql, const std::string& arg);

  std::unique_ptr<sqlite3, DbClose> db_;
  // Declared after db_, so finalized before the connection closes.
  std::unordered_map<const char*, CachedStatement> statements_;
  std::string path_;
  std::uint64_t bad_payloads_ = 0;
};

}  // namespace medic::kanban
