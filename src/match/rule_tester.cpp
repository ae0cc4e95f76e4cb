#include "match/rule_tester.h"

#include <charconv>

#include "match/classify.h"

namespace medic::match {

std::string field_text(const FieldValue& v) {
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[32];
    auto res = std::to_chars(buf, buf + sizeof buf, *d);
    return std::string(buf, res.ptr);
  }
  return std::get<std::string>(v);
}

ExampleReport run_examples(const PatternDb& db, Matcher& matcher) {
  ExampleReport report;
  const auto& rules = db.rules().rules;
  for (std::uint32_t idx = 0; idx < rules.size(); ++idx) {
    const rules::Rule& rule = rules[idx];
    auto fail = [&](const rules::Example& ex, std::string message) {
      report.failures.push_back(ExampleFailure{ex.where, rule.id, std::move(message)});
    };
    for (const rules::Example& ex : rule.match_examples) {
      const std::vector<Hit> hits = scan_text(db, matcher, ex.text);
      const Hit* own = nullptr;
      for (const Hit& h : hits) {
        if (h.rule == idx) own = &h;
      }
      if (!own) {
        fail(ex, "does not match: " + ex.text);
        continue;
      }
      bool ok = true;
      if (!rule.is_context()) {
        const auto best = strongest_failure(db, hits);
        const rules::Rule& winner = db.rule(hits[*best].rule);
        if (winner.failure_class != rule.failure_class) {
          fail(ex, "matches, but the line is labelled " + std::string(rules::to_string(*winner.failure_class)) +
                       " by rule '" + winner.id + "' (priority " + std::to_string(winner.priority) + " against " +
                       std::to_string(rule.priority) + ")");
          ok = false;
        }
      }
      for (const auto& [name, want] : ex.fields) {
        const FieldValue* got = find_field(own->fields, name);
        if (!got) {
          fail(ex, "field '" + name + "' not extracted (expected " + want + ")");
          ok = false;
        } else if (field_text(*got) != want) {
          fail(ex, "field '" + name + "' is " + field_text(*got) + ", expected " + want);
          ok = false;
        }
      }
      if (ok) ++report.passed;
    }
    for (const rules::Example& ex : rule.no_match_examples) {
      const std::vector<Hit> hits = scan_text(db, matcher, ex.text);
      bool hit = false;
      for (const Hit& h : hits) hit = hit || h.rule == idx;
      if (hit) {
        fail(ex, "matches but must not: " + ex.text);
      } else {
        ++report.passed;
      }
    }
  }
  return report;
}

}  // namespace medic::match
