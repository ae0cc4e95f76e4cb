#pragma once
// The daemon's checkpoint (state.json): what a restart needs to neither miss what was
// written while medic was down nor repeat a decision (DESIGN.md §6): each board's event
// cursor, each followed log's identity and offset (with a fingerprint of the bytes before
// it), provider health, attempt history, and the evidence of runs in flight.
// encode/parse are pure; CheckpointWriter (checkpoint_writer.h) writes the file off the
// loop thread. A damaged entry costs that entry (counted), never undefined values; a
// file that is not a JSON object fails parse (the daemon then rebuilds: see daemon.cpp).
// Thread: any.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "decide/decision.h"

namespace medic::state {

struct FileState {
  std::string path;
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::uint64_t offset = 0;
  std::uint64_t line = 1;
  std::uint64_t fingerprint = 0;  // 0: none saved
  std::string board;              // the board whose logs dir holds it (parked logs; "" else)
};

struct RunState {
  std::string key;  // "<board>/<task>"
  std::int64_t run_id = 0;
  std::int64_t started_at = 0;
  std::string provider;
  std::vector<decide::Evidence> evidence;  // class and priority are looked up by rule id on load
  // Still running when saved (absent in an older checkpoint: true, unless decided).
  bool live = true;
  // Ended by the worker's own Kanban call: its later trailer is no failure.
  bool finished = false;
};

struct Checkpoint {
  std::map<std::string, std::int64_t> cursors;  // board slug -> last event id read
  std::vector<FileState> files;
  std::map<std::string, std::int64_t> unhealthy_until;
  std::map<std::string, std::vector<std::int64_t>> attempts;
  std::vector<RunState> runs;
};

std::string encode(const Checkpoint& cp);

struct Parsed {
  Checkpoint checkpoint;
  std::uint64_t bad_entries = 0;  // entries left out because they were damaged
};
[[nodiscard]] core::Result<Parsed> parse(std::string_view text);

}  // namespace medic::state
