#pragma once
// A real Hermes Kanban board for tests: Hermes's schema in WAL mode, written through
// SQLite the way Hermes's CLI writes it (tasks, task_runs, task_events with JSON
// payloads). medic reads it read-only, as it reads a real board.

#include <sqlite3.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace medic::testing {

class HermesBoard {
 public:
  explicit HermesBoard(const std::string& db_path);
  ~HermesBoard();
  HermesBoard(const HermesBoard&) = delete;
  HermesBoard& operator=(const HermesBoard&) = delete;

  void create_task(const std::string& id, const std::string& title, const std::string& assignee,
                   const std::string& workspace = {}, const std::string& provider = {});
  /// Opens a run (claimed), returning its id, as the dispatcher does.
  std::int64_t claim(const std::string& task_id, std::int64_t now);
  /// Appends an event; `payload` is raw text (JSON, or garbage for error tests).
  std::int64_t event(const std::string& task_id, std::optional<std::int64_t> run_id, const std::string& kind,
                     const std::string& payload, std::int64_t now);
  void exec(const std::string& sql);

  /// A column value for upsert: NULL, an integer, a real or text.
  using Value = std::variant<std::monostate, std::int64_t, double, std::string>;
  /// INSERT OR REPLACE of one row, binding every value (rows recorded from real Hermes).
  void upsert(const std::string& table, const std::vector<std::pair<std::string, Value>>& row);
  /// The table's column names (PRAGMA table_info).
  std::vector<std::string> columns(const std::string& table);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace medic::testing
