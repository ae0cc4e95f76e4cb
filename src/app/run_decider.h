#pragma once
// The daemon's decision path, from an ended run to its published decision, taken out of
// the daemon (issue 13):
// - the facts: the run tracker's exit and evidence, the task row as the daemon last read
//   it, the children waiting on a blocked task, Hermes's breaker (the board's run history);
// - the acceptance check of the task's artifacts, for the decisions that read them, on the
//   threadpool when there is a workspace to walk (up to 100,000 entries), the decision
//   published on the loop when it is back; meanwhile the run's id is "being checked", so
//   another exit path of the same run does not decide it again;
// - the engine's decision (decide::decide, with the engine's state: attempts, provider
//   health), then its lines in order through the outbox (health first, then the decision)
//   and its rows in the state reports (board-wide, and the task's workspace when the
//   workspace report is allowed: artifacts::report_location);
// - the examination of a blocked parent whose children wait on it.
// Thread: the loop thread (the acceptance walk, and the lookup of where the workspace report
// may go, run on the threadpool and read only what is fixed after start-up: the options and
// the workspace roots).

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>

#include "app/daemon.h"
#include "artifacts/acceptance.h"
#include "core/clock.h"
#include "decide/engine.h"
#include "decide/run_tracker.h"
#include "kanban/board_reader.h"
#include "publish/outbox.h"
#include "report/report_queue.h"

namespace medic::app {

class RunDecider {
 public:
  struct Sinks {
    publish::Outbox* outbox = nullptr;
    report::ReportQueue* reports = nullptr;  // null: no state reports
    /// A name refused (a workspace the report may not go to), logged once per key.
    std::function<void(const std::string& key, const std::string& message)> refuse;
    /// A decision was published (the checkpoint is dirty).
    std::function<void()> on_published;
  };
  RunDecider(uv_loop_t* loop, const DaemonOptions& options, const artifacts::WorkspaceRoots& roots,
             decide::RunTracker& tracker, const core::Clock& clock);
  RunDecider(const RunDecider&) = delete;
  RunDecider& operator=(const RunDecider&) = delete;

  void set_sinks(Sinks sinks) { sinks_ = std::move(sinks); }

  /// Decides the run `d` of `board`/`task`; `row` is the task row as last read (may be
  /// null), `reader` the board's open connection (may be null).
  void decide_run(const std::string& board, kanban::BoardReader* reader, const std::string& task, decide::DecideRun d,
                  const kanban::TaskRow* row);
  /// This task blocked with children waiting, or this (waiting) task's blocked parents:
  /// each such parent is examined once per blocked spell of a run.
  void check_blocked_family(const std::string& board, kanban::BoardReader& reader, const std::string& task);

  /// Decisions whose acceptance check is still on the threadpool.
  bool checking() const { return !checking_.empty(); }
  decide::EngineState& engine() { return engine_; }
  const decide::EngineState& engine() const { return engine_; }
  std::uint64_t decisions() const { return decisions_; }
  /// How many runs each exit path decided ("trailer", "pid", "event", "pid+wait", ...).
  const std::map<std::string, std::uint64_t>& decided_by() const { return decided_by_; }

 private:
  void examine_blocked_parent(const std::string& board, kanban::BoardReader& reader, const std::string& parent);
  void check_then_publish(const std::string& id, decide::RunFacts facts, std::optional<kanban::TaskRow> row,
                          std::int64_t started, std::string path);
  artifacts::CheckResult check_artifacts(const std::string& board, const std::optional<kanban::TaskRow>& row,
                                         std::int64_t run_started) const;
  /// Where a workspace report may go (artifacts::report_location), when it was looked up
  /// already: on the threadpool, next to the acceptance walk of the same workspace.
  using ReportWhere = core::Result<std::optional<report::Location>>;
  bool publish_decision(const decide::RunFacts& facts,
                        std::optional<ReportWhere> where = std::nullopt);  // false: nothing new was published
  std::optional<report::Location> workspace_report(decide::Decision& d, std::optional<ReportWhere> where);
  void report_decision(const decide::Decision& d, const std::optional<report::Location>& workspace);

  uv_loop_t* loop_;
  const DaemonOptions& options_;
  const artifacts::WorkspaceRoots& roots_;
  decide::RunTracker& tracker_;
  const core::Clock& clock_;
  Sinks sinks_;
  decide::EngineState engine_;
  std::set<std::string> checking_;                     // decision ids whose acceptance check is out
  std::map<std::string, std::string> health_reasons_;  // provider -> why it was marked
  std::uint64_t decisions_ = 0;
  std::map<std::string, std::uint64_t> decided_by_;
};

}  // namespace medic::app
