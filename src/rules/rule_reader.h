#pragma once
// Reads rule files (YAML text) into a RuleSet. Pure: the caller supplies the bytes, so
// this module never touches the filesystem. Every problem is collected as a Diagnostic
// with file:line; rules with errors are left out of the set, the others are kept.

#include <span>
#include <string>

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

}  // namespace medic::rules
