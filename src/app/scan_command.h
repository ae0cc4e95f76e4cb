#pragma once
// `medic scan`: classifies log files offline and prints each hit (text or NDJSON) or a
// summary of counts. Exit 0 when every input was read, 2 for unreadable input or rules.

#include <string>

#include "cli/options.h"
#include "match/hit.h"
#include "match/pattern_db.h"

namespace medic::app {

int run_scan(const cli::ScanOptions& options);

/// The NDJSON form of one hit: exactly path, line, offset, rule, class, priority,
/// fields, text (no trailing newline).
void append_hit_json(std::string& out, std::string_view path, const match::PatternDb& db, const match::Hit& hit);

/// The readable form: "path:line: class rule (priority) k=v … | text".
void append_hit_text(std::string& out, std::string_view path, const match::PatternDb& db, const match::Hit& hit);

}  // namespace medic::app
