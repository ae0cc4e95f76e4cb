#pragma once
// The run lifecycle of Hermes Kanban workers as a pure state machine (DESIGN.md §3 "Exit"):
// values in (board events, log hits, the exit trailer, a pid's death with its wait status,
// the expiry of a wait), "decide this run now with these facts" out. No loop, no files, no
// SQLite: the daemon feeds it in the order it learns things and delivers what it returns.
//
// What it encodes, checked against Hermes's real dispatcher (conformance/hermes-real,
// kanban_db.py at aaf96885; reference/hermes-kanban.md §7):
// - An exit is the first of: the log's `[kanban-worker-exit] rc=N` trailer (newer Hermes),
//   the worker's pid dying with a readable wait status (Hermes reaps workers only on its
//   tick, so a dead worker is usually an unreaped zombie whose /proc stat still holds the
//   status), or one of Hermes's run-ending events (crashed, protocol_violation,
//   rate_limited, timed_out, stale, reclaimed, spawn_failed).
// - A pid that died with no status to read (reaped already), or that was killed by a
//   signal (Hermes kills on timeout and reclaim, then says why on its tick), and whose log
//   shows no failure, waits for Hermes's event up to a bound (its tick plus grace); the
//   log's evidence always outranks the exit.
// - One decision per run, id "<board>/<task>/<run>", never "/0": an exit whose run is not
//   yet known waits for the board to name it. A run that ended in kanban_complete or
//   request_review gets none, and a trailer after one is an exit, not a failure.
// - `gave_up` (run_id NULL in Hermes, kanban_db.py:7911) is a change to the *task*: its
//   own id "<board>/<task>/<run>/gave_up", once, and only when it calls for a new action.
// - The pid watch is dropped as soon as the run is decided or finished.
// Thread: one owner. Errors: none; unknown inputs are ignored.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/clock.h"
#include "decide/decided_set.h"
#include "decide/decision.h"
#include "rules/policy.h"

namespace medic::decide {

/// One board event, reduced to what the lifecycle needs (kanban/ parses the payload).
struct RunEvent {
  std::string kind;
  std::optional<std::int64_t> run_id;
  core::EpochSeconds at = 0;
  std::optional<std::int64_t> pid;
  std::optional<core::EpochSeconds> started_at;
  std::optional<int> exit_code;
  std::string reason;  // blocked {reason}
};

/// What the tracker asks the caller to do for one task ("<board>/<task>").
struct DecideRun {
  std::string key;          // "<board>/<task>"
  std::int64_t run_id = 0;  // 0: take the run from the task row (current or last run)
  std::string decision_id;  // empty: "<key>/<run>"; task-level ones end in "/gave_up"
  ExitInfo exit;
  std::vector<Evidence> evidence;
  std::string provider;         // from the log's context lines
  bool worker_blocked = false;  // the worker's own kanban_block in this run
  std::string blocked_reason;
  core::EpochSeconds run_started = 0;
  bool gave_up = false;                          // Hermes's breaker tripped (task-level)
  std::optional<rules::Action> previous_action;  // gave_up: what medic decided for the run
  bool previous_known_reset = false;             // ... a retry_at at the provider's named reset
};

struct PidWatch {
  std::int64_t run_id = 0;
  std::int64_t pid = 0;
  core::EpochSeconds started_at = 0;
};

struct Effects {
  std::vector<DecideRun> decide;
  std::optional<PidWatch> watch_pid;
  bool unwatch_pid = false;
  std::optional<core::EpochSeconds> wait_until;  // arm (or re-arm) the key's wait timer
  bool cancel_wait = false;
  bool reread_row = false;        // the task row may have changed (workspace_path is set after claim)
  bool task_blocked = false;      // blocked by someone else: examine the task's family
  std::int64_t finished_run = 0;  // this run ended in kanban_complete / request_review: no decision
  // Hermes has now ended a run medic decided earlier (from its trailer or its pid): Hermes's
  // own word on it, for subscribers that wait for it (act completes such a run only then).
  struct HermesEnded {
    std::string decision_id;
    std::int64_t run_id = 0;
    std::string kind;  // the run-ending event's kind
  };
  std::optional<HermesEnded> hermes_ended;
};

struct TrackerOptions {
  /// How long a pid death without a usable status waits for Hermes's run-ending event:
  /// Hermes's tick (60 s) plus its crash grace (30 s) by default.
  std::int64_t exit_event_wait_s = 90;
  /// A task at rest (no run going on, none waiting, no evidence kept) is forgotten after
  /// this long without news (forget_idle): a daemon that runs for months keeps the tasks
  /// of the last day, not of every day.
  std::int64_t forget_idle_s = 24 * 3600;
  /// At most this many tasks at rest are kept; above it the longest idle go first, but
  /// never one idle for less than forget_min_idle_s: what can still arrive for a run just
  /// ended (a trailer after kanban_complete, Hermes's gave_up on its next tick) needs it.
  std::size_t max_at_rest = 20000;
  std::int64_t forget_min_idle_s = 600;
};

/// The event kinds with which Hermes ends a run.
bool is_run_ending_kind(std::string_view kind);

class RunTracker {
 public:
  explicit RunTracker(TrackerOptions options = {}) : options_(options) {}

  Effects on_event(const std::string& key, const RunEvent& e, core::EpochSeconds now);
  /// A failure or context hit in the task's log (context hits set the provider).
  void on_hit(const std::string& key, Evidence e);
  Effects on_trailer(const std::string& key, int rc, core::EpochSeconds now);
  /// A trailer in bytes written before medic started, with no checkpoint to say which run
  /// they belong to: a run boundary, not an exit to decide. The evidence before it is kept
  /// aside for the run Hermes's own (replayed) event may end, and the bytes after it are
  /// the next run's.
  void on_history_trailer(const std::string& key);
  /// The watched pid died. `wait_status` is its waitpid status when it could be read (an
  /// unreaped zombie of the same user), nullopt when it was already reaped.
  Effects on_pid_exit(const std::string& key, std::int64_t run_id, std::optional<int> wait_status,
                      core::EpochSeconds now);
  /// The key's wait timer fired.
  Effects on_wait_expired(const std::string& key, core::EpochSeconds now);

  /// The caller published (or, restoring, had published) decision `id` ("<key>/<run>"
  /// or a task-level "<key>/<run>/<what>") with `action`; `known_reset` marks a rate-limit
  /// retry_at at a reset the provider named (the one retry that overrides Hermes's breaker).
  void note_decided(const std::string& id, std::optional<rules::Action> action = std::nullopt,
                    bool known_reset = false);
  bool decided(const std::string& id) const { return decided_.contains(id); }
  /// The ids decided before this start (read from the journal), replacing any noted.
  void adopt_decided(DecidedSet decided) {
    decided_ = std::move(decided);
    decided_.seal();
  }
  const DecidedSet& decided_set() const { return decided_; }

  /// State for the checkpoint: per key, the current run and its evidence so far.
  struct Saved {
    std::int64_t run_id = 0;
    core::EpochSeconds started_at = 0;
    std::string provider;
    std::vector<Evidence> evidence;
    bool live = true;       // the run was going on (false: ended, decided or finished)
    bool finished = false;  // ended by the worker's own Kanban call
  };
  std::map<std::string, Saved> save() const;
  void restore(const std::string& key, Saved s);

  /// The current run of `key` (0: none known).
  std::int64_t current_run(const std::string& key) const;

  /// Forgets the tasks at rest that TrackerOptions says to (idle too long, or too many);
  /// returns their keys, for the caller to drop what it keeps by them. What was decided
  /// stays known (the decided set), so a late event of a forgotten run is still no new
  /// decision.
  std::vector<std::string> forget_idle(core::EpochSeconds now);
  std::size_t size() const { return tasks_.size(); }
  /// No run of `key` is going on or waiting, and no evidence is kept for it (also true
  /// for a key never seen): nothing more is expected from its log until its next run.
  bool at_rest(const std::string& key) const {
    auto it = tasks_.find(key);
    return it == tasks_.end() || at_rest(it->second);
  }

 private:
  struct Task {
    std::int64_t run_id = 0;
    core::EpochSeconds started_at = 0;
    bool live = false;      // claimed and not yet seen to end
    bool finished = false;  // a terminal Kanban call ended it on purpose
    bool worker_blocked = false;
    std::string blocked_reason;
    bool termination_requested = false;  // reclaim_deferred: a kill on purpose may follow
    bool waiting = false;                // a pid death waits for Hermes's event
    ExitInfo pending_exit;
    std::vector<Evidence> evidence;
    std::vector<Evidence> history;  // evidence before the last history trailer
    std::string provider;
    std::int64_t last_decided_run = 0;
    core::EpochSeconds touched = 0;  // the last event, exit or wait about it (0: not yet; forget_idle)
  };
  static bool at_rest(const Task& t) {
    return !t.live && !t.waiting && !t.worker_blocked && t.evidence.empty() && t.history.empty();
  }
  Task& task(const std::string& key, core::EpochSeconds now) {
    Task& t = tasks_[key];
    t.touched = now;
    return t;
  }

  std::string run_id_of(const std::string& key, std::int64_t run) const { return key + "/" + std::to_string(run); }
  DecideRun take(const std::string& key, Task& t, ExitInfo exit);
  void start_run(const std::string& key, Task& t, std::int64_t run, core::EpochSeconds at, Effects& fx);
  void end_tracking(Task& t, Effects& fx);
  static bool has_failure(const Task& t);

  TrackerOptions options_;
  std::map<std::string, Task> tasks_;
  DecidedSet decided_;  // every decision id published, with (for a run's) what was decided
};

}  // namespace medic::decide
