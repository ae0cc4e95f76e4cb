#pragma once
// Reads rule files (YAML text) into a RuleSet. Pure: the caller supplies the bytes, so
// this module never touches the filesystem. Every problem is collected as a Diagnostic
// with file:line; rules with errors are left out of the set, the others are kept.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "rules/diagnostic.h"
#include "rules/rule.h"

namespace medic::rules {

struct RuleSource {
  std::string path;  // as it should appear in diagnostics
  std::string text;
};

struct ReadResult {
  RuleSet rules;
  Diagnostics diagnostics;
  bool ok() const { return diagnostics.empty(); }
};

ReadResult read_rules(std::span<const RuleSource> sources);

/// Counted repeats above this ({0,30000}) are refused: Hyperscan unrolls them.
inline constexpr std::uint64_t kMaxRepeat = 1000;
/// The largest bound of a counted repeat ({n}, {n,}, {m,n}) in `pattern`, outside
/// character classes and escapes; 0 when there is none.
std::uint64_t largest_repeat(std::string_view pattern);

}  // namespace medic::rules
