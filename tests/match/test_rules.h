#pragma once
// Compiles inline YAML rules for match/ tests; fails the test on any diagnostic.

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "match/matcher.h"
#include "match/pattern_db.h"
#include "rules/rule_reader.h"

namespace medic::match::testing {

inline std::unique_ptr<PatternDb> compile_yaml(const std::string& yaml) {
  std::vector<rules::RuleSource> sources{{"test.yaml", yaml}};
  auto read = rules::read_rules(sources);
  for (const auto& d : read.diagnostics) ADD_FAILURE() << rules::format(d);
  auto compiled = PatternDb::compile(std::move(read.rules));
  for (const auto& d : compiled.diagnostics) ADD_FAILURE() << rules::format(d);
  return std::move(compiled.db);
}

inline rules::Diagnostics compile_errors(const std::string& yaml) {
  std::vector<rules::RuleSource> sources{{"test.yaml", yaml}};
  auto read = rules::read_rules(sources);
  auto compiled = PatternDb::compile(std::move(read.rules));
  read.diagnostics.insert(read.diagnostics.end(), compiled.diagnostics.begin(), compiled.diagnostics.end());
  return read.diagnostics;
}

}  // namespace medic::match::testing
