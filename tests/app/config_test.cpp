// resolve_run_options: the config file under the command line, every problem as file:line.
#include "app/config.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "integration/process.h"

namespace medic::app {
namespace {

using testing::TempDir;

bool has(const rules::Diagnostics& diags, const std::string& text) {
  return std::any_of(diags.begin(), diags.end(),
                     [&](const rules::Diagnostic& d) { return rules::format(d).find(text) != std::string::npos; });
}

TEST(ConfigTest, TheCommandLineOverridesTheFile) {
  TempDir dir;
  cli::RunOptions cli;
  cli.config = dir.file("medic.yaml",
                        "hermes_root: /from/file\nstate_dir: /state/file\nexit_event_wait_s: 30\n"
                        "journal_retain_days: 2\n");
  cli.hermes_root = "/from/cli";
  rules::Diagnostics diags;
  const DaemonOptions o = resolve_run_options(cli, diags);
  EXPECT_TRUE(diags.empty()) << (diags.empty() ? "" : rules::format(diags.front()));
  EXPECT_EQ(o.hermes_root, "/from/cli");
  EXPECT_EQ(o.state_dir, "/state/file");
  EXPECT_EQ(o.exit_event_wait_s, 30);
  EXPECT_EQ(o.journal.retain_age_s, 2 * 86400);
}

TEST(ConfigTest, AnUnknownKeyIsReportedWithItsLine) {
  TempDir dir;
  cli::RunOptions cli;
  cli.config = dir.file("medic.yaml", "state_dir: /s\nhermes_rot: /typo\n");
  rules::Diagnostics diags;
  resolve_run_options(cli, diags);
  EXPECT_TRUE(has(diags, "medic.yaml:2: unknown config key 'hermes_rot'")) << rules::format(diags.front());
}

TEST(ConfigTest, ABadValueAndBrokenYamlAreReportedWithTheirLine) {
  TempDir dir;
  cli::RunOptions bad_value;
  bad_value.config = dir.file("a.yaml", "state_dir: /s\nexit_event_wait_s: soon\n");
  rules::Diagnostics d1;
  resolve_run_options(bad_value, d1);
  ASSERT_FALSE(d1.empty());
  EXPECT_TRUE(has(d1, "a.yaml:2:")) << rules::format(d1.front());
  cli::RunOptions broken;
  broken.config = dir.file("b.yaml", "state_dir: [/s\n");
  rules::Diagnostics d2;
  resolve_run_options(broken, d2);
  EXPECT_TRUE(has(d2, "b.yaml:")) << (d2.empty() ? "no diagnostic" : rules::format(d2.front()));
  EXPECT_TRUE(has(d2, "YAML error"));
}

TEST(ConfigTest, HowLongTasksAtRestAreKeptIsReadAndANonPositiveTimeIsRefused) {
  TempDir dir;
  cli::RunOptions cli;
  cli.config = dir.file("medic.yaml", "forget_tasks_idle_s: 3600\nmax_tasks_at_rest: 500\n");
  rules::Diagnostics diags;
  const DaemonOptions o = resolve_run_options(cli, diags);
  EXPECT_TRUE(diags.empty()) << (diags.empty() ? "" : rules::format(diags.front()));
  EXPECT_EQ(o.forget_tasks_idle_s, 3600);
  EXPECT_EQ(o.max_tasks_at_rest, 500u);
  cli::RunOptions zero;
  zero.config = dir.file("zero.yaml", "state_dir: /s\nforget_tasks_idle_s: 0\n");
  rules::Diagnostics d;
  resolve_run_options(zero, d);
  EXPECT_TRUE(has(d, "zero.yaml:2: forget_tasks_idle_s must be at least 1"))
      << (d.empty() ? "none" : rules::format(d.front()));
}

TEST(ConfigTest, AWorkspaceRootOfSlashIsRefused) {
  TempDir dir;
  cli::RunOptions cli;
  cli.config = dir.file("medic.yaml", "workspace_roots: [/]\n");
  rules::Diagnostics diags;
  resolve_run_options(cli, diags);
  EXPECT_TRUE(has(diags, "medic.yaml:1: workspace_roots:")) << (diags.empty() ? "none" : rules::format(diags.front()));
}

TEST(ConfigTest, AMissingConfigFileIsReported) {
  cli::RunOptions cli;
  cli.config = "/nonexistent/medic.yaml";
  rules::Diagnostics diags;
  resolve_run_options(cli, diags);
  EXPECT_TRUE(has(diags, "cannot read the config file"));
}

}  // namespace
}  // namespace medic::app
