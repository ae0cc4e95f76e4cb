#pragma once
// Runs every rule's examples against the compiled rule set (`medic rules test`):
// - a match example must hit its rule; for a failure rule the line's label (its
//   strongest failure hit) must also be the rule's class, so precedence mistakes show;
//   and every field the example lists must be extracted with that value;
// - a no_match example must not hit its rule.

#include <string>
#include <vector>

#include "match/matcher.h"
#include "match/pattern_db.h"
#include "rules/diagnostic.h"

namespace medic::match {

struct ExampleFailure {
  rules::SourceLocation where;  // the example
  std::string rule_id;
  std::string message;
};

struct ExampleReport {
  int passed = 0;
  std::vector<ExampleFailure> failures;
};

ExampleReport run_examples(const PatternDb& db, Matcher& matcher);

/// A field value as example text: integers plainly, doubles shortest, strings as is.
std::string field_text(const FieldValue& v);

}  // namespace medic::match
