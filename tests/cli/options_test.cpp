// cli::parse: argv to plain option values, and exit code 2 for every usage error.
#include "cli/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace medic::cli {
namespace {

ParseOutcome parse_args(std::vector<std::string> args) {
  args.insert(args.begin(), "medic");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return parse(static_cast<int>(args.size()), argv.data());
}

TEST(OptionsTest, ScanTakesRulesThreadsAndPaths) {
  const auto r = parse_args({"scan", "--rules", "/r", "--json", "--threads", "2", "a.log", "-"});
  ASSERT_TRUE(r.options);
  const auto& s = std::get<ScanOptions>(r.options->command);
  EXPECT_EQ(s.rules_dir, "/r");
  EXPECT_TRUE(s.json);
  EXPECT_FALSE(s.summary);
  EXPECT_EQ(s.threads, 2u);
  EXPECT_EQ(s.paths, (std::vector<std::string>{"a.log", "-"}));
}

TEST(OptionsTest, RulesProfileTakesADirectoryAndFilesAndRounds) {
  const auto r = parse_args({"rules", "profile", "rules", "a.log", "b.log", "--rounds", "5"});
  ASSERT_TRUE(r.options);
  const auto& p = std::get<RulesProfileOptions>(r.options->command);
  EXPECT_FALSE(p.rules_dir);  // the leading directory is told apart when it is run
  EXPECT_EQ(p.paths, (std::vector<std::string>{"rules", "a.log", "b.log"}));
  EXPECT_EQ(p.rounds, 5);
}

TEST(OptionsTest, RunAndSubscribeTakeTheirPaths) {
  const auto run = parse_args({"run", "--hermes-root", "/h", "--state-dir", "/s", "--socket", "/s.sock"});
  ASSERT_TRUE(run.options);
  const auto& o = std::get<RunOptions>(run.options->command);
  EXPECT_EQ(o.hermes_root, "/h");
  EXPECT_EQ(o.state_dir, "/s");
  EXPECT_EQ(o.socket, "/s.sock");
  const auto sub = parse_args({"subscribe", "--since", "42"});
  ASSERT_TRUE(sub.options);
  EXPECT_EQ(std::get<SubscribeOptions>(sub.options->command).since, 42u);
}

TEST(OptionsTest, UsageErrorsExitWithTwo) {
  EXPECT_EQ(parse_args({"scan"}).exit_code, 2);                                // paths required
  EXPECT_EQ(parse_args({"scan", "--threads", "0", "a.log"}).exit_code, 2);     // out of range
  EXPECT_EQ(parse_args({"rules"}).exit_code, 2);                               // a verb required
  EXPECT_EQ(parse_args({"rules", "export", "--format", "awk"}).exit_code, 2);  // not rg or grep
  EXPECT_EQ(parse_args({"rules", "profile", "a.log", "--rounds", "0"}).exit_code, 2);
  EXPECT_EQ(parse_args({"frobnicate"}).exit_code, 2);
  EXPECT_FALSE(parse_args({"frobnicate"}).options);
}

TEST(OptionsTest, HelpExitsWithZeroAndNoOptions) {
  const auto r = parse_args({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.options);
}

}  // namespace
}  // namespace medic::cli
