#pragma once
// Finds and loads the rules: the files of a directory, or the default rules built into
// the binary. Reading files happens here (app/), so rules/ and match/ stay pure.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "match/pattern_db.h"
#include "rules/rule_reader.h"

namespace medic::app {

struct LoadedRules {
  std::string origin;                    // the directory, or "built-in rules"
  std::unique_ptr<match::PatternDb> db;  // null when diagnostics hold errors
  rules::Diagnostics diagnostics;
};

/// The rule directory to use when none is given: $MEDIC_RULES_DIR, else
/// <exe>/../share/medic/rules when installed; nullopt means the built-in rules.
std::optional<std::string> default_rules_dir();

/// Every *.yaml / *.yml file under `dir` (recursively), sorted by path.
/// A directory that cannot be read is a diagnostic, as is one holding no rule file.
std::vector<rules::RuleSource> read_rule_dir(const std::string& dir, rules::Diagnostics& diags);

/// The rule files compiled into the binary (the repository's rules/ at build time).
std::vector<rules::RuleSource> builtin_rule_sources();

/// Reads and compiles: `dir` if given, else default_rules_dir(), else the built-in set,
/// with `extra` (built-in rules of the caller's, such as the daemon's exit trailer)
/// appended, in one compile that the cache covers too.
LoadedRules load_rules(const std::optional<std::string>& dir, std::vector<rules::Rule> extra = {});

}  // namespace medic::app
