#pragma once
// The facts about one run's end, and the decision medic publishes for it (DESIGN.md §6).
// Plain values: decide/ computes them, publish/ serialises them.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "match/hit.h"
#include "rules/failure_class.h"
#include "rules/policy.h"

namespace medic::decide {

/// How the worker's exit was seen: its log's `[kanban-worker-exit] rc=N` trailer, its
/// pid dying, or one of Hermes's own events (crashed, protocol_violation, ...).
enum class ExitSource { Trailer, Pid, Event };
std::string_view to_string(ExitSource s);

struct ExitInfo {
  std::optional<int> rc;
  std::optional<int> signal;  // killed by this signal (pid exits with a readable status)
  ExitSource seen_by = ExitSource::Trailer;
  std::string event_kind;  // for ExitSource::Event: "crashed", "timed_out", ...
  core::EpochSeconds at = 0;
  bool waited = false;  // a pid death that waited for Hermes's event until the bound
};

/// What the board says about a task's failures when its run is decided (decide/breaker.h).
struct BreakerFacts {
  int consecutive_failures = 0;
  std::optional<int> max_retries;
  int pv_streak = 0;        // closed runs in a row (newest first) that were protocol violations
  bool run_closed = false;  // Hermes has closed this run already (its event came first)
  int failure_limit = 2;    // the dispatcher's kanban.failure_limit (config), default 2
};

/// What Hermes's breaker does at one exit.
struct BreakerOutlook {
  bool counted = false;  // this exit counts toward a budget at all
  bool trips = false;    // Hermes gives up on the task at this exit
  int failures = 0;      // the count after this exit
  int limit = 0;
  std::string budget;  // "consecutive failures" or "protocol violations in a row"
};

/// One failure-signature hit in the run's own bytes of the worker log.
struct Evidence {
  std::string rule;
  std::optional<rules::FailureClass> failure_class;  // empty: a context rule
  int priority = 0;
  std::string path;
  std::uint64_t line = 0;
  std::string text;
  match::Fields fields;
};

/// The result of the acceptance checks on the task's workspace (artifacts/ computes it;
/// the engine only reads it). `ran` false: no workspace, or it could not be read.
struct ArtifactFacts {
  bool ran = false;
  bool evidence = false;
  bool outputs = false;
  bool state = false;
  std::vector<std::string> checked;
  std::vector<std::string> missing;
  std::vector<std::string> refused;
  bool passed() const { return ran && evidence && outputs && state && refused.empty(); }
};

/// Everything known about a run when its worker exits.
struct RunFacts {
  std::string board = "default";
  std::string task_id;
  std::int64_t run_id = 0;
  ExitInfo exit;
  std::vector<Evidence> evidence;
  std::string provider;  // from the log's context lines or the task's provider_override
  std::optional<int> task_max_retries;
  std::optional<ArtifactFacts> artifacts;  // absent: not checked
  // The task is blocked in Hermes: by its worker's own kanban_block in this run, or (for
  // a parent examined because children wait on it) by anyone. Its artifacts decide.
  bool blocked = false;
  std::string blocked_reason;
  std::vector<std::string> waiting_children;  // `todo` tasks waiting on this one
  std::string decision_id;                    // empty: "<board>/<task>/<run>"
  std::string workspace;                      // the task's workspace_path (reports go to its state/)
  std::string assignee;                       // the task's Hermes profile
  // Hermes's breaker, from the board (absent: not read). See decide/breaker.h.
  std::optional<BreakerFacts> breaker;
  // Hermes gave up on the task after this run (its gave_up event): a task-level decision,
  // made only when it calls for a new action given what medic decided for the run.
  bool gave_up = false;
  std::optional<rules::Action> previous_action;
  bool previous_known_reset = false;
};

struct Decision {
  std::string id;  // "<board>/<task>/<run>": the same failure never gets two ids
  std::string board;
  std::string task_id;
  std::int64_t run_id = 0;
  std::string workspace;
  std::string assignee;
  std::optional<rules::FailureClass> failure_class;  // empty: unexplained exit
  rules::Action action = rules::Action::Block;
  std::optional<core::EpochSeconds> retry_at;
  std::optional<double> backoff_s;
  std::string provider;
  std::string use_provider;
  std::string use_model;  // the model to run on use_provider (from the fallback's config)
  int attempt = 1;
  int max_attempts = 1;
  std::vector<std::string> missing;
  std::vector<std::string> checked;  // what acceptance looked at, when it ran
  std::string next_command;
  // repair_auth: the preflight's steps, in order, for a dispatcher or `medic act` to run.
  std::vector<std::string> steps;
  std::string reason;
  std::optional<Evidence> evidence;
  ExitInfo exit;
  core::EpochSeconds decided_at = 0;
  std::optional<BreakerOutlook> breaker;  // what Hermes's breaker does at this exit
  bool overrides_breaker = false;         // a retry Hermes's breaker would not allow, on purpose
  bool known_reset = false;               // retry_at is a reset time the provider named
};

/// A provider marked unhealthy (published as a `provider_health` message).
struct ProviderHealth {
  std::string provider;
  core::EpochSeconds unhealthy_until = 0;
  std::string reason;
};

}  // namespace medic::decide
