#pragma once
// What each failure class leads to (DESIGN.md §4): data, with DESIGN's table as the
// defaults and the `policy:` section of the config file as overrides. Pure values; the
// decision engine (decide/) applies them.

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/failure_class.h"

namespace medic::rules {

enum class Action { RetryAt, Retry, Resume, Complete, Block, RepairAuth, RepairEnv, Ignore };

/// The wire name ("retry_at", "repair_auth", ...).
std::string_view to_string(Action a);
std::optional<Action> parse_action(std::string_view name);

/// Exponential backoff: base * factor^(attempt-1), capped, then spread by ±jitter.
struct Backoff {
  double base_s = 30;
  double factor = 2;
  double cap_s = 900;
  double jitter = 0.1;  // fraction of the delay, 0..1
};

struct ClassPolicy {
  Action action = Action::Retry;
  int max_attempts = 2;
  Backoff backoff;
};

/// A provider to move a task to while its own is unhealthy, and the model to run there
/// (Hermes's `set-model <id> <model> --provider P` needs one: kanban_db.py:3462).
struct Fallback {
  std::string provider;
  std::string model;  // empty: the old list form named none (medic act then cannot switch)
  friend bool operator==(const Fallback&, const Fallback&) = default;
};

struct Policy {
  std::map<FailureClass, ClassPolicy> classes;
  /// A worker that exited non-zero with no failure signature in its log.
  ClassPolicy unexplained{Action::Retry, 2, {}};
  /// Wait after a rate limit that named no reset time (Hermes uses 300 s too).
  double rate_limit_default_delay_s = 300;
  /// Attempts older than this are forgotten when counting against max_attempts.
  double attempt_window_s = 3600;
  /// Rate limits count in a window this many times longer (they wait for resets).
  double rate_limit_window_factor = 4;
  /// provider -> providers (with their model) to use instead while it is unhealthy, in order.
  std::map<std::string, std::vector<Fallback>> fallback_providers;
  /// "provider/model" to retry a context_length failure with; unset: block for input.
  std::optional<std::string> context_length_model;

  const ClassPolicy& for_class(FailureClass c) const;
  /// DESIGN.md §4's table.
  static Policy defaults();
};

/// Reads a `policy:` YAML mapping over the defaults; problems are collected with the
/// file's line numbers and the defaults stay in force for the keys that were wrong.
Policy read_policy(std::string_view yaml_text, const std::string& path, Diagnostics& diags);

}  // namespace medic::rules
