#include "app/rules_command.h"

#include <cstdio>

#include "app/rule_loading.h"
#include "match/matcher.h"
#include "match/rule_tester.h"
#include "rules/pattern_export.h"

namespace medic::app {
namespace {

void print_diagnostics(const LoadedRules& loaded) {
  for (const auto& d : loaded.diagnostics) std::printf("%s\n", rules::format(d).c_str());
}

}  // namespace

int run_rules_check(const cli::RulesCheckOptions& options) {
  LoadedRules loaded = load_rules(options.rules_dir);
  print_diagnostics(loaded);
  if (!loaded.db) {
    std::printf("%s: %zu problem(s)\n", loaded.origin.c_str(), loaded.diagnostics.size());
    return 1;
  }
  std::size_t failure = 0;
  for (const auto& r : loaded.db->rules().rules) failure += r.is_context() ? 0 : 1;
  std::printf("%s: %zu rules OK (%zu failure, %zu context), database %zu bytes (%s), stream state %zu bytes\n",
              loaded.origin.c_str(), loaded.db->rules().rules.size(), failure,
              loaded.db->rules().rules.size() - failure, loaded.db->database_bytes(),
              loaded.db->from_cache() ? "from the cache" : "compiled", loaded.db->stream_state_bytes());
  return 0;
}

int run_rules_test(const cli::RulesTestOptions& options) {
  LoadedRules loaded = load_rules(options.rules_dir);
  if (!loaded.db) {
    print_diagnostics(loaded);
    std::printf("0 passed, %zu failed\n", loaded.diagnostics.size());
    return 1;
  }
  auto matcher = match::Matcher::create(*loaded.db);
  if (!matcher) {
    std::fprintf(stderr, "medic: %s\n", matcher.error().message.c_str());
    return 2;
  }
  const match::ExampleReport report = match::run_examples(*loaded.db, *matcher);
  for (const auto& f : report.failures) {
    rules::Diagnostic d{f.where, rules::DiagnosticCode::BadValue, "rule '" + f.rule_id + "': " + f.message};
    std::printf("%s\n", rules::format(d).c_str());
  }
  std::printf("%d passed, %zu failed\n", report.passed, report.failures.size());
  return report.failures.empty() ? 0 : 1;
}

int run_rules_export(const cli::RulesExportOptions& options) {
  LoadedRules loaded = load_rules(options.rules_dir);
  if (!loaded.db) {
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", rules::format(d).c_str());
    return 2;
  }
  const auto format = rules::parse_export_format(options.format);
  if (!format) return 2;  // CLI11 already restricts the choice
  int rc = 0;
  for (const auto& r : loaded.db->rules().rules) {
    if (auto p = rules::export_pattern(r, *format)) {
      std::printf("%s\n", p->c_str());
    } else {
      std::fprintf(stderr, "%s:%d: rule '%s': pattern cannot be written for %s\n", r.pattern_where.file.c_str(),
                   r.pattern_where.line, r.id.c_str(), options.format.c_str());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace medic::app
