#pragma once
// Plain rule values as read from rules/*.yaml (DESIGN.md §4). No behaviour: the reader
// fills them, match/ compiles them.

#include <optional>
#include <string>
#include <vector>

#include "rules/diagnostic.h"
#include "rules/failure_class.h"

namespace medic::rules {

/// One named field and the PCRE2 patterns that produce it, tried in order on the matching
/// line; the first that matches supplies the value (its first capture group, or the whole
/// match when it has none).
struct Extractor {
  std::string field;
  std::vector<std::string> patterns;
  std::vector<SourceLocation> where;  // one per pattern
};

/// A rule self-test: `text` must (match) or must not (no_match) hit the rule. A match
/// example may also state the fields the rule must extract from it.
struct Example {
  std::string text;
  std::vector<std::pair<std::string, std::string>> fields;
  SourceLocation where;
};

struct Rule {
  std::string id;
  /// Empty for a context rule, which only sets fields for the lines after it.
  std::optional<FailureClass> failure_class;
  std::string pattern;
  bool caseless = false;
  bool dotall = false;
  int priority = kDefaultPriority;
  std::vector<Extractor> extract;
  std::vector<Example> match_examples;
  std::vector<Example> no_match_examples;
  SourceLocation where;          // the rule's `- id:` entry
  SourceLocation pattern_where;  // the `pattern:` value

  static constexpr int kDefaultPriority = 50;
  bool is_context() const { return !failure_class.has_value(); }
};

/// Every rule of every file, in file order (files sorted by name). A rule's index in
/// `rules` is its dense id in the compiled database.
struct RuleSet {
  std::vector<Rule> rules;
};

}  // namespace medic::rules
