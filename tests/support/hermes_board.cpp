#include "support/hermes_board.h"

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace medic::testing {

HermesBoard::HermesBoard(const std::string& db_path) {
  if (sqlite3_open(db_path.c_str(), &db_) != SQLITE_OK) throw std::runtime_error("open " + db_path);
  sqlite3_busy_timeout(db_, 5000);
  exec("PRAGMA journal_mode=WAL");
  std::ifstream in(std::string(MEDIC_SOURCE_DIR) + "/src/app/demo/hermes_schema.sql");
  std::stringstream schema;
  schema << in.rdbuf();
  exec(schema.str());
}

HermesBoard::~HermesBoard() { sqlite3_close(db_); }

void HermesBoard::exec(const std::string& sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    throw std::runtime_error("sqlite: " + msg + " in: " + sql.substr(0, 200));
  }
}

namespace {
std::string q(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}
}  // namespace

void HermesBoard::create_task(const std::string& id, const std::string& title, const std::string& assignee,
                              const std::string& workspace, const std::string& provider) {
  exec(
      "INSERT INTO tasks (id, title, assignee, status, created_at, workspace_path, provider_override) "
      "VALUES (" +
      q(id) + "," + q(title) + "," + q(assignee) + ",'ready',1780850000," +
      (workspace.empty() ? "NULL" : q(workspace)) + "," + (provider.empty() ? "NULL" : q(provider)) + ")");
}

std::int64_t HermesBoard::claim(const std::string& task_id, std::int64_t now) {
  exec("INSERT INTO task_runs (task_id, status, started_at) VALUES (" + q(task_id) + ",'running'," +
       std::to_string(now) + ")");
  const std::int64_t run = sqlite3_last_insert_rowid(db_);
  exec("UPDATE tasks SET status='running', current_run_id=" + std::to_string(run) + " WHERE id=" + q(task_id));
  event(task_id, run, "claimed",
        "{\"lock\":\"host:1\",\"expires\":" + std::to_string(now + 900) + ",\"run_id\":" + std::to_string(run) + "}",
        now);
  return run;
}

std::int64_t HermesBoard::event(const std::string& task_id, std::optional<std::int64_t> run_id, const std::string& kind,
                                const std::string& payload, std::int64_t now) {
  exec("INSERT INTO task_events (task_id, run_id, kind, payload, created_at) VALUES (" + q(task_id) + "," +
       (run_id ? std::to_string(*run_id) : "NULL") + "," + q(kind) + "," + (payload.empty() ? "NULL" : q(payload)) +
       "," + std::to_string(now) + ")");
  return sqlite3_last_insert_rowid(db_);
}

}  // namespace medic::testing
