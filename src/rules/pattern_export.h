#pragma once
// Writes the rule set's patterns for other tools, one per line, so benchmarks can run
// rg and grep on exactly the signatures medic uses (`medic rules export`).
// - Rg: Rust regex syntax, each pattern wrapped as (?-u:…) or (?i-u:…), so rg keeps its
//   byte-oriented fast engine and caseless rules stay caseless.
// - GrepEre: GNU grep -E syntax: \d becomes [0-9], (?: becomes (, escapes ERE does not
//   know are dropped, and caseless rules spell both cases ([hH][tT][tT][pP]) since ERE
//   has no inline (?i).

#include <optional>
#include <string>

#include "rules/rule.h"

namespace medic::rules {

enum class ExportFormat { Rg, GrepEre };

std::optional<ExportFormat> parse_export_format(std::string_view name);

/// One pattern in `format`, or nullopt when it uses syntax the format cannot express
/// (the caller reports the rule).
std::optional<std::string> export_pattern(const Rule& rule, ExportFormat format);

}  // namespace medic::rules
