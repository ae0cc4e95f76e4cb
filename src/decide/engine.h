#pragma once
// The decision engine: facts + policy + state + now -> one Decision (DESIGN.md §4).
// Pure: no I/O, no clock of its own; the state it reads and updates (attempt history,
// provider health) is passed in, so the daemon persists it and tests construct it.

#include <map>
#include <string>
#include <vector>

#include "decide/decision.h"
#include "rules/policy.h"

namespace medic::decide {

/// What the engine remembers between decisions. Persisted by the daemon.
struct EngineState {
  /// provider -> epoch second until which it is unhealthy.
  std::map<std::string, core::EpochSeconds> unhealthy_until;
  /// "<board>/<task>/<class>" -> epoch seconds of earlier decided attempts.
  std::map<std::string, std::vector<core::EpochSeconds>> attempts;
};

struct Outcome {
  Decision decision;
  std::vector<ProviderHealth> health;  // providers this decision marked unhealthy
  bool publish = true;                 // false: nothing new to say (a gave_up after a decision that stands)
};

/// Decides one run. Updates `state` (attempts, provider health) as the decision implies.
Outcome decide(const RunFacts& facts, const rules::Policy& policy, EngineState& state, core::EpochSeconds now);

/// Forgets the attempt counts whose every attempt lies outside the longest window of
/// `policy` (they would count nothing at the next decision): without it a daemon keeps a
/// count for every task it ever retried. Returns how many counts were forgotten.
std::size_t forget_expired_attempts(EngineState& state, const rules::Policy& policy, core::EpochSeconds now);

/// The class the run will be decided as (its evidence, else its exit), so the caller
/// runs the artifact checks only for the classes that use them. Empty: unexplained.
std::optional<rules::FailureClass> explain(const RunFacts& facts);

/// Whether the decision for `c` reads the task's artifacts (protocol violation, and the
/// transport retries that resume from saved evidence).
bool uses_artifacts(rules::FailureClass c);

/// The evidence that explains the run: its highest-priority failure hit, not counting
/// auth_auxiliary (a side call's failure) unless nothing else failed. Null when none.
const Evidence* strongest(const std::vector<Evidence>& evidence);

}  // namespace medic::decide
