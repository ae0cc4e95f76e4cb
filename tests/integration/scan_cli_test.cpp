// `medic scan` as a user runs it: the real binary on real files.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "integration/process.h"

namespace medic {
namespace {

using testing::run_process;
using testing::TempDir;

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

TEST(ScanCliTest, JsonHitsCarryExactlyTheDocumentedKeys) {
  TempDir dir;
  const auto log =
      dir.file("t_1.log",
               "  ┊ 📋 kanban_show t_1\n"
               "   🔌 Provider: openai-codex  Model: gpt-5.5\n"
               "   📝 Error: HTTP 429: The usage limit has been reached. plan_type: team, resets_at: 1780861905\n");
  const auto res = run_process({MEDIC_BINARY, "scan", "--json", "--rules", MEDIC_RULES_DIR, log});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  simdjson::dom::parser parser;
  bool saw_failure = false;
  for (const auto& line : lines_of(res.out)) {
    simdjson::dom::object hit;
    ASSERT_EQ(parser.parse(line).get(hit), simdjson::SUCCESS) << line;
    std::vector<std::string> keys;
    for (auto field : hit) keys.emplace_back(field.key);
    EXPECT_EQ(keys,
              (std::vector<std::string>{"path", "line", "offset", "rule", "class", "priority", "fields", "text"}));
    if (std::string(hit["rule"].get_string().value()) != "codex-usage-limit-reached") continue;
    saw_failure = true;
    EXPECT_EQ(std::string(hit["path"].get_string().value()), log);
    EXPECT_EQ(hit["line"].get_int64().value(), 3);
    EXPECT_EQ(hit["offset"].get_int64().value(),
              static_cast<std::int64_t>(
                  std::string("  ┊ 📋 kanban_show t_1\n   🔌 Provider: openai-codex  Model: gpt-5.5\n").size()));
    EXPECT_EQ(std::string(hit["class"].get_string().value()), "rate_limit");
    EXPECT_EQ(hit["fields"]["resets_at"].get_int64().value(), 1780861905);
    EXPECT_EQ(hit["fields"]["http_status"].get_int64().value(), 429);
    EXPECT_EQ(std::string(hit["fields"]["provider"].get_string().value()), "openai-codex");
    EXPECT_EQ(std::string(hit["fields"]["model"].get_string().value()), "gpt-5.5");
  }
  EXPECT_TRUE(saw_failure) << res.out;
}

TEST(ScanCliTest, ContextRuleHitsHaveNullClass) {
  TempDir dir;
  const auto log = dir.file("a.log", "   🔌 Provider: openai-codex  Model: gpt-5.5\n");
  const auto res = run_process({MEDIC_BINARY, "scan", "--json", "--rules", MEDIC_RULES_DIR, log});
  ASSERT_EQ(res.exit_code, 0);
  simdjson::dom::parser parser;
  simdjson::dom::element hit;
  ASSERT_EQ(parser.parse(res.out).get(hit), simdjson::SUCCESS) << res.out;
  EXPECT_TRUE(hit["class"].is_null());
}

TEST(ScanCliTest, InvalidUtf8InTheLogStillGivesValidJson) {
  TempDir dir;
  static const char kBytes[] = "\xff\xfe\x00garbage request timed out \xc3\x28\n";
  const auto log = dir.file("bin.log", std::string(kBytes, sizeof kBytes - 1));  // keeps the NUL
  const auto res = run_process({MEDIC_BINARY, "scan", "--json", "--rules", MEDIC_RULES_DIR, log});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  const auto lines = lines_of(res.out);
  ASSERT_EQ(lines.size(), 1u);
  simdjson::dom::parser parser;
  simdjson::dom::element hit;
  ASSERT_EQ(parser.parse(lines[0]).get(hit), simdjson::SUCCESS) << lines[0];
  EXPECT_EQ(std::string(hit["class"].get_string().value()), "timeout");
}

TEST(ScanCliTest, ReadsStdinWhenThePathIsADash) {
  const auto res = run_process({MEDIC_BINARY, "scan", "--rules", MEDIC_RULES_DIR, "-"},
                               "fine\nError: Unknown skill(s): kanban-worker\n");
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("-:2: env_missing unknown-skill"), std::string::npos) << res.out;
}

TEST(ScanCliTest, ExitsZeroWhenTheInputHasNoHits) {
  TempDir dir;
  const auto res = run_process({MEDIC_BINARY, "scan", "--rules", MEDIC_RULES_DIR, dir.file("ok.log", "all fine\n")});
  EXPECT_EQ(res.exit_code, 0);
  EXPECT_EQ(res.out, "");
}

TEST(ScanCliTest, ExitsTwoForUnreadableInputButScansTheRest) {
  TempDir dir;
  const auto good = dir.file("g.log", "request timed out\n");
  const auto res = run_process({MEDIC_BINARY, "scan", "--rules", MEDIC_RULES_DIR, dir.path() + "/missing.log", good});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.err.find("missing.log: cannot open"), std::string::npos) << res.err;
  EXPECT_NE(res.out.find("g.log:1: timeout"), std::string::npos) << res.out;
}

TEST(ScanCliTest, ExitsTwoForInvalidRulesAndNamesTheLine) {
  TempDir dir;
  dir.file("rules/bad.yaml", "- id: a\n  class: nope\n  pattern: x\n");
  const auto res = run_process({MEDIC_BINARY, "scan", "--rules", dir.path() + "/rules", dir.file("x.log", "x\n")});
  EXPECT_EQ(res.exit_code, 2);
  EXPECT_NE(res.err.find("bad.yaml:2: rule 'a': unknown class 'nope'"), std::string::npos) << res.err;
}

TEST(ScanCliTest, ExitsTwoOnBadUsage) {
  EXPECT_EQ(run_process({MEDIC_BINARY, "scan"}).exit_code, 2);
  EXPECT_EQ(run_process({MEDIC_BINARY, "frobnicate"}).exit_code, 2);
}

TEST(ScanCliTest, SummaryCountsHitsPerClassAndRule) {
  TempDir dir;
  const auto log = dir.file("s.log", "request timed out\nrequest timed out\nHTTP 402: Payment Required\n");
  const auto res = run_process({MEDIC_BINARY, "scan", "--summary", "--rules", MEDIC_RULES_DIR, log});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("3 hits"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("timeout                       2"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("request-timed-out"), std::string::npos) << res.out;
  EXPECT_EQ(res.out.find("s.log:1"), std::string::npos) << "summary alone prints no hits";
}

TEST(ScanCliTest, UsesTheBuiltInRulesWhenNoDirectoryIsGiven) {
  TempDir dir;
  const auto res = run_process({MEDIC_BINARY, "scan", dir.file("b.log", "Error: Unknown skill(s): kanban-worker\n")});
  ASSERT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("env_missing unknown-skill"), std::string::npos) << res.out;
}

TEST(ScanCliTest, DemoDecidesEverySeedIncidentThroughTheDaemon) {
  const auto res = run_process({MEDIC_BINARY, "demo"});
  ASSERT_EQ(res.exit_code, 0) << res.out << res.err;
  EXPECT_NE(res.out.find("6 of 6 incidents decided"), std::string::npos) << res.out;
  // The seed article's incident: raw evidence saved, a Codex timeout, rc=0 -> resume from
  // the evidence with the missing outputs named; and a protocol violation whose artifacts
  // pass -> complete.
  EXPECT_NE(res.out.find("timeout → resume"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("missing: *.md, *.html, state/PROJECT_STATE.md, state/PROJECT_STATE.html"), std::string::npos)
      << res.out;
  EXPECT_NE(res.out.find("protocol_violation → complete"), std::string::npos) << res.out;
  EXPECT_NE(res.out.find("rate_limit → retry_at"), std::string::npos) << res.out;
  // Retry at the provider's reset, an hour after the 429 (a second may pass while the
  // demo writes the log).
  EXPECT_TRUE(res.out.find("(in 3600 s)") != std::string::npos || res.out.find("(in 3599 s)") != std::string::npos)
      << res.out;
  EXPECT_NE(res.out.find("env_missing → repair_env"), std::string::npos);
  EXPECT_NE(res.out.find("auth_region → block"), std::string::npos);
  EXPECT_NE(res.out.find("auth_missing → repair_auth"), std::string::npos);
  EXPECT_NE(res.out.find("ms after the worker's exit"), std::string::npos);
}

TEST(ScanCliTest, ParallelScanOfALargeFileEqualsOneStream) {
  // Over 16 MiB, scan splits a file at line starts across threads; the hits, their line
  // numbers and the context fields carried across segments must not change.
  TempDir dir;
  std::string text;
  text.reserve(40u << 20);
  const std::string filler(200, 'x');
  int n = 0;
  while (text.size() < (40u << 20)) {
    ++n;
    if (n % 5000 == 0) {
      text += "   🔌 Provider: openai-codex  Model: gpt-5." + std::to_string(n) + "\n";
    } else if (n % 5000 == 1 && n > 1) {
      text += "HTTP 429: The usage limit has been reached. resets_at: 1780861905\n";
    } else {
      text += filler + "\n";
    }
  }
  const auto log = dir.file("big.log", text);
  const auto one = run_process({MEDIC_BINARY, "scan", "--json", "--threads", "1", "--rules", MEDIC_RULES_DIR, log});
  const auto four = run_process({MEDIC_BINARY, "scan", "--json", "--threads", "4", "--rules", MEDIC_RULES_DIR, log});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  ASSERT_EQ(four.exit_code, 0) << four.err;
  EXPECT_GT(std::count(one.out.begin(), one.out.end(), '\n'), 100);
  EXPECT_EQ(one.out, four.out);
}

// A regular file is read in pieces (pread) unless --mmap maps it. Small pieces put lines,
// and a 100 KiB line at the 32 MiB cut between two threads' segments, across piece
// boundaries; every way of reading must give the hits of one stream over a mapping.
TEST(ScanCliTest, ReadingInPiecesAndMappingGiveTheSameHits) {
  TempDir dir;
  std::string text;
  text.reserve(40u << 20);
  const std::string filler(150, 'y');
  int n = 0;
  bool long_line = false;
  while (text.size() < (40u << 20)) {
    ++n;
    if (!long_line && text.size() > (32u << 20) - (50u << 10)) {
      long_line = true;
      text += "HTTP 429 rate limit, resets_at: 1780861905 " + std::string(100u << 10, 'z') + "\n";
    } else if (n % 3000 == 0) {
      text += "Error: connect ECONNREFUSED 127.0.0.1:11434 (" + std::to_string(n) + ")\n";
    } else {
      text += filler + "\n";
    }
  }
  const auto log = dir.file("big.log", text);
  auto scan = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv{MEDIC_BINARY, "scan", "--json", "--rules", MEDIC_RULES_DIR};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(log);
    const auto res = run_process(argv);
    EXPECT_EQ(res.exit_code, 0) << res.err;
    return res.out;
  };
  const std::string mapped = scan({"--mmap", "--threads", "1"});
  EXPECT_GT(std::count(mapped.begin(), mapped.end(), '\n'), 100);
  EXPECT_NE(mapped.find("\"resets_at\":1780861905"), std::string::npos) << "the long line's hit is missing";
  EXPECT_EQ(scan({"--threads", "1"}), mapped);
  EXPECT_EQ(scan({"--threads", "1", "--chunk-bytes", "4093"}), mapped);
  EXPECT_EQ(scan({"--threads", "2", "--chunk-bytes", "4093"}), mapped);
  EXPECT_EQ(scan({"--threads", "2", "--mmap"}), mapped);
}

// The compiled database is cached by rule-set fingerprint: the first load compiles and
// writes it, the next takes it from the cache (rules check says which), and a scan with
// it finds the same hits.
TEST(ScanCliTest, SecondRunLoadsTheCompiledRulesFromTheCache) {
  TempDir dir;
  const std::string cache = dir.path() + "/cache";
  setenv("MEDIC_CACHE_DIR", cache.c_str(), 1);
  const auto log = dir.file("a.log", "request timed out\n");
  const auto first = run_process({MEDIC_BINARY, "rules", "check", MEDIC_RULES_DIR});
  const auto second = run_process({MEDIC_BINARY, "rules", "check", MEDIC_RULES_DIR});
  const auto scan = run_process({MEDIC_BINARY, "scan", "--rules", MEDIC_RULES_DIR, log});
  unsetenv("MEDIC_CACHE_DIR");
  ASSERT_EQ(first.exit_code, 0) << first.out;
  EXPECT_NE(first.out.find("(compiled)"), std::string::npos) << first.out;
  EXPECT_NE(second.out.find("(from the cache)"), std::string::npos) << second.out;
  EXPECT_NE(scan.out.find("a.log:1: timeout"), std::string::npos) << scan.out;
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache)) {
    EXPECT_EQ(e.path().extension(), ".hsdb");
    ++files;
  }
  EXPECT_EQ(files, 1);
}

// A damaged cache file is not used: the rules are compiled again, the scan is right, and
// the cache is rewritten so the next load takes it again.
TEST(ScanCliTest, ACorruptCacheFileIsIgnored) {
  TempDir dir;
  const std::string cache = dir.path() + "/cache";
  setenv("MEDIC_CACHE_DIR", cache.c_str(), 1);
  const auto log = dir.file("a.log", "request timed out\n");
  ASSERT_EQ(run_process({MEDIC_BINARY, "rules", "check", MEDIC_RULES_DIR}).exit_code, 0);
  int damaged = 0;
  for (const auto& e : std::filesystem::directory_iterator(cache)) {
    std::ofstream(e.path(), std::ios::binary | std::ios::trunc) << "not a database";
    ++damaged;
  }
  const auto recompiled = run_process({MEDIC_BINARY, "rules", "check", MEDIC_RULES_DIR});
  const auto res = run_process({MEDIC_BINARY, "scan", "--rules", MEDIC_RULES_DIR, log});
  const auto cached_again = run_process({MEDIC_BINARY, "rules", "check", MEDIC_RULES_DIR});
  unsetenv("MEDIC_CACHE_DIR");
  EXPECT_EQ(damaged, 1);
  EXPECT_NE(recompiled.out.find("(compiled)"), std::string::npos) << recompiled.out;
  EXPECT_EQ(res.exit_code, 0) << res.err;
  EXPECT_NE(res.out.find("a.log:1: timeout"), std::string::npos) << res.out;
  EXPECT_NE(cached_again.out.find("(from the cache)"), std::string::npos) << cached_again.out;
}

}  // namespace
}  // namespace medic
