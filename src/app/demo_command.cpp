#include "app/demo_command.h"

#include <cstdio>

#include "app/rule_loading.h"
#include "app/scan_command.h"
#include "match/classify.h"
#include "match/matcher.h"
#include "match/rule_tester.h"

namespace medic::app {

// Generated from src/app/demo/*.log by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_demo_files();

int run_demo(const cli::DemoOptions& options) {
  LoadedRules loaded = load_rules(options.rules_dir);
  if (!loaded.db) {
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", rules::format(d).c_str());
    return 2;
  }
  auto matcher = match::Matcher::create(*loaded.db);
  if (!matcher) return 2;
  const auto& db = *loaded.db;
  std::printf("medic demo: %zu rules from %s\n", db.rules().rules.size(), loaded.origin.c_str());
  for (const auto& [name, text] : embedded_demo_files()) {
    // A worker log holds several runs, each closed by Hermes's exit trailer; label each
    // run by its strongest failure hit, as the daemon will at the worker's exit.
    std::printf("\n== %s (%zu bytes)\n", std::string(name).c_str(), text.size());
    std::size_t run_start = 0;
    int run = 0;
    while (run_start < text.size()) {
      const std::size_t trailer = text.find("[kanban-worker-exit] rc=", run_start);
      const std::size_t run_end =
          trailer == std::string_view::npos ? text.size() : text.find('\n', trailer);
      const std::string_view run_text =
          text.substr(run_start, (run_end == std::string_view::npos ? text.size() : run_end + 1) - run_start);
      run_start = run_end == std::string_view::npos ? text.size() : run_end + 1;
      ++run;
      const std::vector<match::Hit> hits = match::scan_text(db, *matcher, run_text);
      std::string exit_line = "no exit trailer";
      if (trailer != std::string_view::npos) {
        exit_line = std::string(text.substr(trailer, run_end - trailer));
      }
      const auto best = match::strongest_failure(db, hits);
      if (best) {
        const auto& r = db.rule(hits[*best].rule);
        std::string fields;
        for (const auto& f : hits[*best].fields) fields += " " + f.name + "=" + match::field_text(f.value);
        std::printf("run %d: %-18s rule=%s%s  (%s)\n", run,
                    std::string(rules::to_string(*r.failure_class)).c_str(), r.id.c_str(),
                    fields.c_str(), exit_line.c_str());
      } else {
        std::printf("run %d: %-18s (%s)\n", run, "no failure found", exit_line.c_str());
      }
      for (const match::Hit& h : hits) {
        std::string line;
        append_hit_text(line, "  line", db, h);
        std::printf("%s\n", line.c_str());
      }
    }
  }
  return 0;
}

}  // namespace medic::app
