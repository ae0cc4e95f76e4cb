// `medic rules profile [DIR] FILE...`: what each rule costs a rule author. Every rule's
// hits and the lines it decides come from one scan with the whole set; its cost is the
// scan time it adds: the whole set's time minus the time of the set without it (each a
// best of several rounds over the same text, held in memory so the disk is not timed),
// and its throughput alone. Timing includes each hit's extractors, as in the daemon.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>

#include "app/rule_loading.h"
#include "app/rules_command.h"
#include "match/matcher.h"
#include "match/stream.h"

namespace medic::app {
namespace {

using Clock = std::chrono::steady_clock;

struct Input {
  std::string path;
  std::string text;
};

struct RuleStats {
  std::uint64_t hits = 0;
  std::uint64_t decides = 0;  // lines where this rule's class is the line's label
};

// One pass over every input with `db`; hits go to `on_hit` (null: only timed).
template <typename OnHit>
bool scan_all(const match::PatternDb& db, match::Matcher& matcher, const std::vector<Input>& inputs, OnHit&& on_hit) {
  std::vector<match::Hit> hits;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    auto stream = match::Stream::open(db);
    if (!stream) return false;
    constexpr std::size_t kChunk = 1 << 20;
    const std::string& t = inputs[i].text;
    for (std::size_t pos = 0; pos < t.size(); pos += kChunk) {
      stream->feed(std::string_view(t).substr(pos, kChunk), matcher, hits);
    }
    stream->finish(matcher, hits);
    on_hit(i, hits);
    hits.clear();
  }
  return true;
}

// Best-of-`rounds` seconds for one pass; each round repeats passes for at least 0.2 s.
double time_scan(const match::PatternDb& db, const std::vector<Input>& inputs, int rounds) {
  auto matcher = match::Matcher::create(db);
  if (!matcher) return -1;
  double best = 1e300;
  for (int r = 0; r < rounds; ++r) {
    int passes = 0;
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      scan_all(db, *matcher, inputs, [](std::size_t, const std::vector<match::Hit>&) {});
      ++passes;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < 0.2);
    best = std::min(best, elapsed / passes);
  }
  return best;
}

}  // namespace

int run_rules_profile(const cli::RulesProfileOptions& options) {
  std::vector<std::string> paths = options.paths;
  std::optional<std::string> rules_dir = options.rules_dir;
  // `rules profile DIR FILE...`: a leading directory is the rule set.
  struct stat st {};
  if (!rules_dir && paths.size() > 1 && ::stat(paths.front().c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
    rules_dir = paths.front();
    paths.erase(paths.begin());
  }
  LoadedRules loaded = load_rules(rules_dir);
  if (!loaded.db) {
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", rules::format(d).c_str());
    return 2;
  }
  std::vector<Input> inputs;
  std::uint64_t bytes = 0;
  for (const std::string& p : paths) {
    std::ifstream in(p, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "medic: %s: cannot be read\n", p.c_str());
      return 2;
    }
    Input input{p, std::string(std::istreambuf_iterator<char>(in), {})};
    bytes += input.text.size();
    inputs.push_back(std::move(input));
  }
  const match::PatternDb& db = *loaded.db;
  const std::size_t n = db.rules().rules.size();

  // Hits and decided lines, from one scan with every rule.
  auto matcher = match::Matcher::create(db);
  if (!matcher) {
    std::fprintf(stderr, "medic: %s\n", matcher.error().message.c_str());
    return 2;
  }
  std::vector<RuleStats> stats(n);
  std::uint64_t lines_with_failure = 0;
  scan_all(db, *matcher, inputs, [&](std::size_t, const std::vector<match::Hit>& hits) {
    std::map<std::uint64_t, std::uint32_t> winner;  // line offset -> deciding rule
    for (const match::Hit& h : hits) {
      ++stats[h.rule].hits;
      const rules::Rule& r = db.rule(h.rule);
      if (!r.failure_class) continue;
      auto [it, fresh] = winner.try_emplace(h.offset, h.rule);
      if (!fresh && r.priority > db.rule(it->second).priority) it->second = h.rule;
    }
    lines_with_failure += winner.size();
    for (const auto& [offset, rule] : winner) ++stats[rule].decides;
  });

  std::fprintf(stderr, "profiling %zu rules on %llu bytes (%d rounds each)...\n", n,
               static_cast<unsigned long long>(bytes), options.rounds);
  // The whole set is timed again, with as many rounds, right before each rule's runs: a
  // cost compares two measurements taken alike and together, so neither a slow moment of
  // the machine nor a best-of-many against a best-of-few turns into a rule's cost.
  double all = 1e300;
  std::vector<double> all_s(n, 0);
  std::vector<double> without_s(n, 0);
  std::vector<double> alone_s(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    all_s[i] = time_scan(db, inputs, options.rounds);
    if (all_s[i] < 0) return 2;
    all = std::min(all, all_s[i]);
    rules::RuleSet without = db.rules();
    rules::RuleSet alone;
    alone.rules.push_back(without.rules[i]);
    without.rules.erase(without.rules.begin() + static_cast<std::ptrdiff_t>(i));
    if (!without.rules.empty()) {
      auto compiled = match::PatternDb::compile(std::move(without));
      if (!compiled.db) return 2;
      without_s[i] = time_scan(*compiled.db, inputs, options.rounds);
    }
    auto compiled = match::PatternDb::compile(std::move(alone));
    if (!compiled.db) return 2;
    alone_s[i] = time_scan(*compiled.db, inputs, options.rounds);
  }
  std::vector<double> cost(n, 0);
  for (std::size_t i = 0; i < n; ++i) cost[i] = (all_s[i] - without_s[i]) / all_s[i];

  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return cost[a] > cost[b]; });
  std::printf("%-32s %-18s %4s %9s %9s %8s %11s\n", "rule", "class", "prio", "hits", "decides", "cost", "alone MB/s");
  for (std::size_t i : order) {
    const rules::Rule& r = db.rule(static_cast<std::uint32_t>(i));
    const std::string cls = r.failure_class ? std::string(rules::to_string(*r.failure_class)) : "(context)";
    std::printf("%-32s %-18s %4d %9llu %9llu %7.1f%% %11.0f\n", r.id.c_str(), cls.c_str(), r.priority,
                static_cast<unsigned long long>(stats[i].hits), static_cast<unsigned long long>(stats[i].decides),
                100.0 * cost[i], static_cast<double>(bytes) / alone_s[i] / 1e6);
  }
  std::printf("all %zu rules: %.1f MB/s (%.2f ms per pass over %llu bytes), %llu lines with a failure hit\n", n,
              static_cast<double>(bytes) / all / 1e6, all * 1e3, static_cast<unsigned long long>(bytes),
              static_cast<unsigned long long>(lines_with_failure));
  std::printf(
      "cost: the share of scan time the rule adds (the whole set's time minus the set without it, over the whole set's "
      "time, each the best of %d "
      "rounds). Hyperscan builds one automaton for the set, so removing a rule can change how the rest is built: "
      "a few %% either side of 0 is noise, a large negative cost means the set is faster with the rule than "
      "without it. alone: the rule compiled and scanned by itself.\n",
      options.rounds);
  return 0;
}

}  // namespace medic::app
