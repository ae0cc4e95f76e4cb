#pragma once
// act.json: what `medic act` keeps across its restarts, so a decision is applied once and a
// parked task is released at its time even if act was down then.
// - last_seq: decisions up to it were applied (act subscribes after it; a decision received
//   but not yet applied keeps it below that decision, so a stop or a crash replays it);
// - applied: the ids of the last kMaxApplied decisions applied (a replay skips them);
// - timers: releases still to come (a task parked until a provider's reset);
// - waits: decisions waiting for Hermes to end their run.
// The file is written whole and atomically (core::write_file_atomically) by the caller.
// Untrusted on read as far as its names go: a timer whose task id or board slug is outside
// Hermes's grammar is dropped, never turned into a `hermes` argv.
// Thread: any; pure.

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace medic::act {

struct TimerState {
  std::string decision_id;
  std::string board;
  std::string task;
  std::string workspace;
  std::int64_t at = 0;  // epoch seconds: release at or after it
  bool overrides_breaker = false;
  friend bool operator==(const TimerState&, const TimerState&) = default;
};

/// A decision waiting for Hermes to end the decided run (planner.h): planned again when
/// the daemon says Hermes has ended it, or at `until` without Hermes's word.
struct WaitState {
  std::string decision_id;
  std::string board;
  std::string task;
  std::int64_t run_id = 0;
  std::string workspace;
  std::string decision;    // the decision's line as the daemon sent it
  std::int64_t until = 0;  // epoch seconds
  friend bool operator==(const WaitState&, const WaitState&) = default;
};

struct ActState {
  std::uint64_t last_seq = 0;
  std::deque<std::string> applied;  // oldest first
  std::vector<TimerState> timers;
  std::vector<WaitState> waits;
  friend bool operator==(const ActState&, const ActState&) = default;
};

inline constexpr std::size_t kMaxApplied = 20000;  // ids remembered for idempotence

/// The file's text (one JSON object and a newline).
[[nodiscard]] std::string encode_state(const ActState& s);
/// Reads the file's text; a text that is not a JSON object is an error (the caller starts
/// from the daemon's current seq). Timers and waits with invalid names are dropped and
/// counted in `dropped` when given.
[[nodiscard]] core::Result<ActState> decode_state(std::string_view text, std::size_t* dropped = nullptr);

}  // namespace medic::act
