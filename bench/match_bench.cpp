// Matcher throughput over real log text: LogHub system logs with real failure lines
// injected (one per 500 lines), scanned with the shipped rules in stream mode, as the
// daemon and `medic scan` do. Counters: hits per MB, database and stream-state sizes.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "match/matcher.h"
#include "match/pattern_db.h"
#include "match/stream.h"
#include "rules/rule_reader.h"

namespace {

using namespace medic;

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty()) out.push_back(l + "\n");
  }
  return out;
}

// ~32 MiB of LogHub lines in random order with a failure line every 500 lines.
const std::string& bench_text() {
  static const std::string text = [] {
    std::vector<std::string> background;
    for (const auto& e : std::filesystem::directory_iterator(std::string(MEDIC_CORPUS_DIR) + "/loghub")) {
      if (e.path().extension() != ".log") continue;
      auto ls = lines_of(slurp(e.path()));
      background.insert(background.end(), ls.begin(), ls.end());
    }
    std::vector<std::string> failures;
    for (const auto& l : lines_of(slurp(std::string(MEDIC_CORPUS_DIR) + "/failures-dev.jsonl"))) {
      // Crude but sufficient: take the "line" value of non-benign rows.
      if (l.find("\"class\": \"benign\"") != std::string::npos) continue;
      const auto start = l.find("\"line\": \"") + 9;
      const auto end = l.find("\", \"class\"");
      failures.push_back(l.substr(start, end - start) + "\n");
    }
    std::mt19937 rng(7);
    std::string t;
    t.reserve(33 << 20);
    for (std::size_t i = 0; t.size() < (32u << 20); ++i) {
      t += (i % 500 == 499) ? failures[rng() % failures.size()] : background[rng() % background.size()];
    }
    return t;
  }();
  return text;
}

std::unique_ptr<match::PatternDb> shipped_rules() {
  std::vector<rules::RuleSource> sources;
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(MEDIC_RULES_DIR)) {
    if (e.path().extension() == ".yaml") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) sources.push_back({f.string(), slurp(f)});
  auto read = rules::read_rules(sources);
  auto compiled = match::PatternDb::compile(std::move(read.rules));
  if (!read.diagnostics.empty() || !compiled.db) {
    std::fprintf(stderr, "match_bench: the shipped rules do not compile\n");
    std::abort();
  }
  return std::move(compiled.db);
}

// The whole pipeline of one source: Hyperscan stream scan, line recovery, extractors.
void BM_StreamScan(benchmark::State& state) {
  const std::string& text = bench_text();
  static const auto db = shipped_rules();
  auto matcher = match::Matcher::create(*db);
  const auto chunk = static_cast<std::size_t>(state.range(0));
  match::StreamOptions options;
  options.count_lines = state.range(1) != 0;
  std::vector<match::Hit> hits;
  std::size_t total_hits = 0;
  for (auto _ : state) {
    auto stream = match::Stream::open(*db, options);
    for (std::size_t i = 0; i < text.size(); i += chunk) {
      stream->feed(std::string_view(text).substr(i, chunk), *matcher, hits);
      total_hits += hits.size();
      hits.clear();
    }
    stream->finish(*matcher, hits);
    total_hits += hits.size();
    hits.clear();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["hits_per_MB"] = static_cast<double>(total_hits) / static_cast<double>(state.iterations()) /
                                  (static_cast<double>(text.size()) / 1e6);
  state.counters["db_bytes"] = static_cast<double>(db->database_bytes());
  state.counters["stream_bytes"] = static_cast<double>(db->stream_state_bytes());
  state.counters["scratch_bytes"] = static_cast<double>(matcher->scratch_bytes());
  state.counters["rules"] = static_cast<double>(db->rules().rules.size());
}
BENCHMARK(BM_StreamScan)
    ->ArgNames({"chunk", "lines"})
    ->Args({1 << 20, 1})
    ->Args({1 << 20, 0})
    ->Args({64 << 10, 1})
    ->Args({4 << 10, 1})
    ->Unit(benchmark::kMillisecond);

// Hyperscan alone on the same text and database: the ceiling for BM_StreamScan.
void BM_HyperscanOnly(benchmark::State& state) {
  const std::string& text = bench_text();
  static const auto db = shipped_rules();
  auto matcher = match::Matcher::create(*db);
  const auto chunk = static_cast<std::size_t>(state.range(0));
  std::size_t matches = 0;
  auto count = [](unsigned, unsigned long long, unsigned long long, unsigned, void* ctx) {
    ++*static_cast<std::size_t*>(ctx);
    return 0;
  };
  for (auto _ : state) {
    hs_stream_t* s = nullptr;
    hs_open_stream(db->hs(), 0, &s);
    for (std::size_t i = 0; i < text.size(); i += chunk) {
      hs_scan_stream(s, text.data() + i, static_cast<unsigned>(std::min(chunk, text.size() - i)), 0, matcher->scratch(),
                     count, &matches);
    }
    hs_close_stream(s, matcher->scratch(), count, &matches);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
  state.counters["matches_per_MB"] =
      static_cast<double>(matches) / static_cast<double>(state.iterations()) / (static_cast<double>(text.size()) / 1e6);
}
BENCHMARK(BM_HyperscanOnly)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
