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

void HermesBoard::upsert(const std::string& table, const std::vector<std::pair<std::string, Value>>& row) {
  std::string cols;
  std::string marks;
  for (const auto& [name, v] : row) {
    cols += (cols.empty() ? "" : ",") + ("\"" + name + "\"");
    marks += marks.empty() ? "?" : ",?";
  }
  const std::string sql = "INSERT OR REPLACE INTO " + table + " (" + cols + ") VALUES (" + marks + ")";
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_) + " in: " + sql);
  int i = 1;
  for (const auto& [name, v] : row) {
    if (const auto* n = std::get_if<std::int64_t>(&v))
      sqlite3_bind_int64(st, i, *n);
    else if (const auto* d = std::get_if<double>(&v))
      sqlite3_bind_double(st, i, *d);
    else if (const auto* t = std::get_if<std::string>(&v))
      sqlite3_bind_text(st, i, t->c_str(), static_cast<int>(t->size()), SQLITE_TRANSIENT);
    else
      sqlite3_bind_null(st, i);
    ++i;
  }
  const int rc = sqlite3_step(st);
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_) + " in: " + sql);
}

std::vector<std::string> HermesBoard::columns(const std::string& table) {
  std::vector<std::string> out;
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db_, ("PRAGMA table_info(" + table + ")").c_str(), -1, &st, nullptr);
  while (sqlite3_step(st) == SQLITE_ROW) out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 1)));
  sqlite3_finalize(st);
  return out;
}

}  // namespace medic::testing
