#pragma once
// The label of a line or a run: its highest-priority failure hit (DESIGN.md §4), or none
// (benign) when only context rules or nothing hit it. Ties go to the rule listed first.

#include <optional>
#include <span>

#include "match/hit.h"
#include "match/pattern_db.h"

namespace medic::match {

/// Index into `hits` of the strongest failure hit, or nullopt when there is none.
std::optional<std::size_t> strongest_failure(const PatternDb& db, std::span<const Hit> hits);

/// Scans one piece of text as a whole source (a stream opened, fed and finished).
std::vector<Hit> scan_text(const PatternDb& db, Matcher& matcher, std::string_view text);

}  // namespace medic::match
