#pragma once
// Per-thread scanning state: the one Hyperscan scratch and the PCRE2 match data that
// every Stream on this thread shares. Hyperscan scratch may not be used by two scans at
// once, so a Matcher belongs to exactly one thread (the loop thread in the daemon).

#include "core/result.h"
#include "match/hs_ptr.h"
#include "match/pattern_db.h"

namespace medic::match {

class Matcher {
 public:
  /// Allocates scratch sized for `db`; call prepare() for every further database that
  /// streams on this thread will use (a reload), before scanning with it.
  [[nodiscard]] static core::Result<Matcher> create(const PatternDb& db);
  [[nodiscard]] core::Result<void> prepare(const PatternDb& db);

  hs_scratch_t* scratch() const { return scratch_.get(); }
  pcre2_match_data* match_data() const { return match_data_.get(); }
  std::size_t scratch_bytes() const;

 private:
  Matcher() = default;

  HsScratchPtr scratch_;
  Pcre2MatchDataPtr match_data_;
};

}  // namespace medic::match
