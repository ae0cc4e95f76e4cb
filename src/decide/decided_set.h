#pragma once
// The decisions medic has published, by id, in 9 bytes each: a daemon that has decided a
// million runs holds about 9 MB here, not the ~380 MB that three ordered maps of strings
// (the journal's ids, the tracker's ids, the tracker's actions) took (issue 13). An id is
// kept as its 64-bit FNV-1a hash with one byte saying what was decided. Two ids share a
// hash with probability about n²/2⁶⁵: 3·10⁻⁸ for a million ids; such a pair would make the
// second run look decided already (its exit logged as "already decided", no decision
// published), never a wrong decision.
// Layout: a sorted vector (binary search) plus a sorted map of recent inserts, merged into
// it past max(kMergeAt, an eighth of the vector): an insert costs O(log n) amortised and a
// bulk load at start-up merges O(log n) times.
// Thread: any, not shared.

#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "rules/policy.h"

namespace medic::decide {

/// What was decided for an id: the action (none for a task-level id, or an id seen decided
/// without its action), and whether a rate-limit retry_at was at a reset the provider named.
struct DecidedRun {
  std::optional<rules::Action> action;
  bool known_reset = false;
};

class DecidedSet {
 public:
  /// Records `id`. An insert without an action keeps the action already recorded.
  void insert(std::string_view id, DecidedRun what);
  std::optional<DecidedRun> find(std::string_view id) const;
  bool contains(std::string_view id) const { return find(id).has_value(); }
  std::size_t size() const { return keys_.size() + recent_.size(); }
  /// Merges the recent inserts into the sorted part (after a bulk load, to drop the map's nodes).
  void seal();
  /// Bytes held (for the stats line and the memory tests).
  std::size_t bytes() const;

 private:
  static constexpr std::size_t kMergeAt = 4096;
  static constexpr std::uint8_t kHasAction = 0x80, kKnownReset = 0x40, kActionMask = 0x3f;
  static std::uint8_t pack(const DecidedRun& d);
  static DecidedRun unpack(std::uint8_t v);
  std::uint8_t* slot(std::uint64_t h);
  std::vector<std::uint64_t> keys_;   // sorted, unique
  std::vector<std::uint8_t> values_;  // values_[i] belongs to keys_[i]
  std::map<std::uint64_t, std::uint8_t> recent_;
};

}  // namespace medic::decide
