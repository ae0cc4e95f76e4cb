#include "kanban/board_reader.h"

#include <simdjson.h>

#include <array>

namespace medic::kanban {
namespace {

using core::ErrorCode;

std::string text_col(sqlite3_stmt* s, int i) {
  const auto* p = sqlite3_column_text(s, i);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(sqlite3_column_bytes(s, i)))
           : std::string();
}

std::optional<std::int64_t> int_col(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL) return std::nullopt;
  return sqlite3_column_int64(s, i);
}

}  // namespace

// Fills the payload fields medic reads; false when the payload is not a JSON object.
// The DOM parser validates the whole document (ondemand would accept trailing garbage
// it never reaches) and picks the CPU kernel at run time; payloads are small.
bool parse_event_payload(std::string_view text, KanbanEvent& e) {
  thread_local simdjson::dom::parser parser;  // keeps its buffers between events
  simdjson::dom::element doc;
  if (parser.parse(text.data(), text.size()).get(doc) != simdjson::SUCCESS) return false;
  simdjson::dom::object obj;
  if (doc.get_object().get(obj) != simdjson::SUCCESS) return false;
  std::int64_t n = 0;
  if (obj["pid"].get_int64().get(n) == simdjson::SUCCESS) e.pid = n;
  if (obj["exit_code"].get_int64().get(n) == simdjson::SUCCESS) e.exit_code = static_cast<int>(n);
  if (obj["started_at"].get_int64().get(n) == simdjson::SUCCESS) e.started_at = n;
  std::string_view sv;
  if (obj["reason"].get_string().get(sv) == simdjson::SUCCESS) e.reason = std::string(sv);
  if (obj["kind"].get_string().get(sv) == simdjson::SUCCESS) e.block_kind = std::string(sv);
  return true;
}

// A failed step: Busy when another process holds the lock (medic never waits on it: the
// loop thread reads the board), else Io.
tl::unexpected<core::Error> BoardReader::failed() const {
  const int rc = sqlite3_errcode(db_.get());
  const bool busy = rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
  return core::fail(busy ? ErrorCode::Busy : ErrorCode::Io, path_ + ": " + sqlite3_errmsg(db_.get()));
}

void BoardReader::StmtRelease::operator()(sqlite3_stmt* s) const {
  if (!lent) {
    sqlite3_finalize(s);
    return;
  }
  sqlite3_reset(s);
  sqlite3_clear_bindings(s);
  *lent = false;
}

core::Result<BoardReader::Statement> BoardReader::prepare(const char* sql) {
  CachedStatement& slot = statements_[sql];  // node-based: &slot.lent outlives rehashing
  if (slot.stmt && !slot.lent) {
    slot.lent = true;
    return Statement(slot.stmt.get(), StmtRelease{&slot.lent});
  }
  const bool cache = !slot.stmt;  // else the cached one is lent: a one-off copy
  sqlite3_stmt* raw = nullptr;
  // PERSISTENT: kept for the reader's lifetime (SQLite prepares it again by itself when
  // Hermes migrates the schema).
  if (sqlite3_prepare_v3(db_.get(), sql, -1, cache ? SQLITE_PREPARE_PERSISTENT : 0, &raw, nullptr) != SQLITE_OK) {
    sqlite3_finalize(raw);
    if (cache) statements_.erase(sql);
    return failed();
  }
  if (!cache) return Statement(raw, StmtRelease{});
  slot.stmt.reset(raw);
  slot.lent = true;
  return Statement(raw, StmtRelease{&slot.lent});
}

bool is_exit_kind(std::string_view kind) {
  static constexpr std::array<std::string_view, 5> kinds = {"crashed", "protocol_violation", "rate_limited",
                                                            "timed_out", "gave_up"};
  for (auto k : kinds) {
    if (k == kind) return true;
  }
  return false;
}

bool is_terminal_call_kind(std::string_view kind) {
  return kind == "completed" || kind == "blocked" || kind == "review_requested";
}

core::Result<std::vector<std::string>> BoardReader::waiting_children(const std::string& parent) {
  return ids(
      "SELECT c.id FROM task_links l JOIN tasks c ON c.id = l.child_id "
      "WHERE l.parent_id = ?1 AND c.status = 'todo' ORDER BY c.id",
      parent);
}

core::Result<std::vector<std::string>> BoardReader::blocked_parents(const std::string& child) {
  return ids(
      "SELECT p.id FROM task_links l JOIN tasks p ON p.id = l.parent_id "
      "JOIN tasks c ON c.id = l.child_id "
      "WHERE l.child_id = ?1 AND c.status = 'todo' AND p.status = 'blocked' ORDER BY p.id",
      child);
}

core::Result<std::vector<std::string>> BoardReader::ids(const char* sql, const std::string& arg) {
  auto stmt = prepare(sql);
  if (!stmt) return tl::unexpected(stmt.error());
  sqlite3_stmt* raw = stmt->get();
  sqlite3_bind_text(raw, 1, arg.c_str(), static_cast<int>(arg.size()), SQLITE_TRANSIENT);
  std::vector<std::string> out;
  int rc = 0;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) out.push_back(text_col(raw, 0));
  if (rc != SQLITE_DONE) return failed();
  return out;
}

core::Result<BoardReader> BoardReader::open(const std::string& db_path) {
  BoardReader r;
  r.path_ = db_path;
  sqlite3* raw = nullptr;
  // Read-only: medic never writes the board. WAL readers still need the -shm file,
  // which Hermes creates; the busy timeout rides out Hermes's checkpoints. NOFOLLOW: a
  // board file that is a link (to another database) is refused.
  const int rc = sqlite3_open_v2(db_path.c_str(), &raw,
                                 SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, nullptr);
  r.db_.reset(raw);
  if (rc != SQLITE_OK) {
    return core::fail(ErrorCode::Io,
                      db_path + ": cannot open read-only: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc)));
  }
  // No busy wait: the daemon's loop reads the board, and a decision the log alone can
  // make must not wait for a lock Hermes holds; a Busy read is retried by the caller.
  sqlite3_busy_timeout(raw, 0);
  return r;
}

core::Result<std::int64_t> BoardReader::last_event_before(std::int64_t epoch) {
  auto stmt = prepare("SELECT COALESCE(MAX(id), 0) FROM task_events WHERE created_at < ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  sqlite3_bind_int64(stmt->get(), 1, epoch);
  if (sqlite3_step(stmt->get()) != SQLITE_ROW) return failed();
  return sqlite3_column_int64(stmt->get(), 0);
}

core::Result<std::int64_t> BoardReader::last_event_id() {
  auto stmt = prepare("SELECT COALESCE(MAX(id), 0) FROM task_events");
  if (!stmt) return tl::unexpected(stmt.error());
  sqlite3_stmt* raw = stmt->get();
  if (sqlite3_step(raw) != SQLITE_ROW) return failed();
  return sqlite3_column_int64(raw, 0);
}

core::Result<std::vector<KanbanEvent>> BoardReader::events_after(std::int64_t cursor, int limit) {
  auto stmt = prepare(
      "SELECT id, task_id, run_id, kind, payload, created_at FROM task_events "
      "WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!stmt) return tl::unexpected(stmt.error());
  sqlite3_stmt* raw = stmt->get();
  sqlite3_bind_int64(raw, 1, cursor);
  sqlite3_bind_int(raw, 2, limit);
  std::vector<KanbanEvent> out;
  std::string buf;
  int rc = 0;
  while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
    KanbanEvent e;
    e.id = sqlite3_column_int64(raw, 0);
    e.task_id = text_col(raw, 1);
    e.run_id = int_col(raw, 2);
    e.kind = text_col(raw, 3);
    e.created_at = sqlite3_column_int64(raw, 5);
    if (sqlite3_column_type(raw, 4) != SQLITE_NULL) {
      buf = text_col(raw, 4);
      if (!buf.empty() && !parse_event_payload(buf, e)) {
        ++bad_payloads_;
        // The cursor still moves past it, and its kind and run still count.
        e.malformed = true;
      }
    }
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return failed();
  return out;
}

core::Result<FailureHistory> BoardReader::failure_history(const std::string& task, std::int64_t run_id) {
  FailureHistory h;
  {
    auto stmt = prepare("SELECT consecutive_failures, max_retries FROM tasks WHERE id = ?1");
    if (!stmt) return tl::unexpected(stmt.error());
    sqlite3_bind_text(stmt->get(), 1, task.c_str(), static_cast<int>(task.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(stmt->get());
    if (rc == SQLITE_ROW) {
      h.consecutive_failures = static_cast<int>(sqlite3_column_int64(stmt->get(), 0));
      if (auto m = int_col(stmt->get(), 1)) h.max_retries = static_cast<int>(*m);
    } else if (rc != SQLITE_DONE) {
      return failed();
    }
  }
  auto stmt = prepare(
      "SELECT id, outcome, metadata, ended_at IS NOT NULL FROM task_runs WHERE task_id = ?1 "
      "ORDER BY id DESC LIMIT 50");
  if (!stmt) return tl::unexpected(stmt.error());
  sqlite3_bind_text(stmt->get(), 1, task.c_str(), static_cast<int>(task.size()), SQLITE_TRANSIENT);
  simdjson::dom::parser parser;
  bool streak_open = true;
  int rc = 0;
  while ((rc = sqlite3_step(stmt->get())) == SQLITE_ROW) {
    const std::int64_t id = sqlite3_column_int64(stmt->get(), 0);
    const bool closed = sqlite3_column_int64(stmt->get(), 3) != 0;
    if (id == run_id) h.run_closed = closed;
    if (!closed || !streak_open) continue;
    const std::string outcome = text_col(stmt->get(), 1);
    if (outcome == "rate_limited") continue;  // neutral for the streak
    bool violation = false;
    if (outcome == "crashed") {
      const std::string meta = text_col(stmt->get(), 2);
      simdjson::dom::element doc;
      bool flag = false;
      violation = !meta.empty() && parser.parse(meta).get(doc) == simdjson::SUCCESS &&
                  doc["protocol_violation"].get_bool().get(flag) == simdjson::SUCCESS && flag;
    }
    if (violation)
      ++h.protocol_violation_streak;
    else
      streak_open = false;
  }
  if (rc != SQLITE_DONE) return failed();
  return h;
}

core::Result<std::optional<TaskRow>> BoardReader::task(const std::string& id) {
  auto stmt = prepare(
      // The newest run by MAX(id): Hermes's idx_runs_task is (task_id, started_at), so an
      // ORDER BY id sorts in a temporary b-tree at every read.
      "SELECT t.id, t.title, t.assignee, t.status, t.workspace_path, t.provider_override, "
      "t.model_override, t.current_run_id, t.worker_pid, t.max_retries, t.consecutive_failures, "
      "r.id, r.started_at FROM tasks t "
      "LEFT JOIN task_runs r ON r.id = (SELECT MAX(x.id) FROM task_runs x WHERE x.task_id = t.id) "
      "WHERE t.id = ?1");
  if (!stmt) return tl::unexpected(stmt.error());
  sqlite3_stmt* raw = stmt->get();
  sqlite3_bind_text(raw, 1, id.c_str(), static_cast<int>(id.size()), SQLITE_TRANSIENT);
  const int rc = sqlite3_step(raw);
  if (rc == SQLITE_DONE) return std::optional<TaskRow>{};
  if (rc != SQLITE_ROW) return failed();
  TaskRow t;
  t.id = text_col(raw, 0);
  t.title = text_col(raw, 1);
  t.assignee = text_col(raw, 2);
  t.status = text_col(raw, 3);
  t.workspace_path = text_col(raw, 4);
  t.provider_override = text_col(raw, 5);
  t.model_override = text_col(raw, 6);
  t.current_run_id = int_col(raw, 7);
  t.worker_pid = int_col(raw, 8);
  if (auto m = int_col(raw, 9)) t.max_retries = static_cast<int>(*m);
  t.consecutive_failures = static_cast<int>(sqlite3_column_int64(raw, 10));
  t.last_run_id = int_col(raw, 11);
  t.last_run_started_at = int_col(raw, 12);
  return std::optional<TaskRow>{std::move(t)};
}

}  // namespace medic::kanban
