#pragma once
// The decision wire format (DESIGN.md §6), owned here: one encoder for the daemon and one
// decoder for `medic act`, `medic subscribe` and the tests, so a field is named once.
// One JSON object per line: `decision`, `provider_health` and `run_ended` messages with
// their seq.
// publish/ depends on decide/ for the value types it serialises (STYLE.md B1, amended:
// the wire format's owner encodes the engine's values rather than a copy of them).
// Thread: any; pure.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/json_writer.h"
#include "core/result.h"
#include "decide/decision.h"

namespace medic::publish {

/// A `decision` line (no trailing newline).
std::string encode_decision(const decide::Decision& d, std::uint64_t seq);
/// A `provider_health` line.
std::string encode_health(const decide::ProviderHealth& h, std::uint64_t seq);

/// Hermes's own word on a run medic decided before Hermes ended it (from its trailer or
/// its pid): the `run_ended` line names the decision and the run-ending event's kind.
struct RunEnded {
  std::string decision_id;
  std::string board;
  std::string task_id;
  std::int64_t run_id = 0;
  std::string event;  // crashed, protocol_violation, rate_limited, timed_out, ...
  std::int64_t at = 0;
};
std::string encode_run_ended(const RunEnded& r, std::uint64_t seq);

struct RunEndedMessage {
  std::uint64_t seq = 0;
  RunEnded run;
};
/// Reads a `run_ended` line back; fails for another type or one without id or run_id.
[[nodiscard]] core::Result<RunEndedMessage> decode_run_ended(std::string_view line);

struct DecisionMessage {
  std::uint64_t seq = 0;
  decide::Decision decision;
};

/// Reads a `decision` line back. Fails for another type, JSON that is not an object, or
/// a decision without id, task_id or a known action.
[[nodiscard]] core::Result<DecisionMessage> decode_decision(std::string_view line);

/// The `type` of a message line ("decision", "provider_health", "run_ended", "hello",
/// "error"), or "".
std::string message_type(std::string_view line);

}  // namespace medic::publish
