#pragma once
// `medic rules check|test|export|profile`.
//  check: every diagnostic as file:line: message; exit 1 when there is any.
//  test: every rule's examples; prints each failure and "N passed, M failed"; exit 1 on any.
//  export: the patterns for rg -f / grep -E -f, one per line, on stdout.
//  profile: each rule's hits, the lines it decides and its share of scan time on FILEs.

#include "cli/options.h"

namespace medic::app {

int run_rules_check(const cli::RulesCheckOptions& options);
int run_rules_test(const cli::RulesTestOptions& options);
int run_rules_export(const cli::RulesExportOptions& options);
int run_rules_profile(const cli::RulesProfileOptions& options);

}  // namespace medic::app
