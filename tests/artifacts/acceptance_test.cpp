#include "artifacts/acceptance.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "integration/process.h"

namespace medic::artifacts {
namespace {

class AcceptanceTest : public ::testing::Test {
 protected:
  testing::TempDir ws_;
  const std::int64_t started_ = 1000;  // every file written now is newer
  Workspace ws() const { return Workspace{ws_.path(), ""}; }
};

TEST_F(AcceptanceTest, PassesWhenEvidenceOutputsAndStateAreThere) {
  ws_.file("raw/search-results.json", "{\"hits\": 12}");
  ws_.file("report/final.md", "# Findings");
  ws_.file("report/final.html", "<h1>Findings</h1>");
  ws_.file("state/PROJECT_STATE.md", "state");
  ws_.file("state/PROJECT_STATE.html", "<p>state</p>");
  const auto r = check(ws(), AcceptanceSpec::defaults(), started_);
  EXPECT_TRUE(r.passed());
  EXPECT_TRUE(r.missing.empty());
  EXPECT_EQ(r.checked.size(), 5u);
}

TEST_F(AcceptanceTest, ListsExactlyWhatIsMissingWhenOnlyEvidenceIsThere) {
  ws_.file("raw/search-results.json", "{}");
  ws_.file("raw/notes.md", "raw notes do not count as outputs");
  const auto r = check(ws(), AcceptanceSpec::defaults(), started_);
  EXPECT_TRUE(r.evidence);
  EXPECT_FALSE(r.outputs);
  EXPECT_FALSE(r.passed());
  EXPECT_EQ(r.missing,
            (std::vector<std::string>{"*.md", "*.html", "state/PROJECT_STATE.md", "state/PROJECT_STATE.html"}));
}

TEST_F(AcceptanceTest, EmptyFilesAndStaleStateDoNotPass) {
  ws_.file("raw/empty.json", "");
  ws_.file("final.md", "");
  ws_.file("final.html", "<p>x</p>");
  ws_.file("state/PROJECT_STATE.md", "s");
  ws_.file("state/PROJECT_STATE.html", "s");
  const auto r = check(ws(), AcceptanceSpec::defaults(), 4102444800);  // run "started" in 2100
  EXPECT_FALSE(r.evidence);
  EXPECT_FALSE(r.outputs);
  EXPECT_FALSE(r.state);
}

TEST_F(AcceptanceTest, RequiresEverySubjectCaseInsensitively) {
  AcceptanceSpec spec;
  spec.outputs = {OutputSpec{"*.md", 1, {"Pricing", "competitors"}}};
  ws_.file("final.md", "# pricing\nonly one subject");
  auto r = check(ws(), spec, started_);
  EXPECT_FALSE(r.outputs);
  ws_.file("final.md", "# PRICING\nand Competitors");
  r = check(ws(), spec, started_);
  EXPECT_TRUE(r.outputs);
}

TEST_F(AcceptanceTest, RefusesPathsThatEscapeTheWorkspace) {
  testing::TempDir outside;
  outside.file("secret.md", "x");
  std::filesystem::create_symlink(outside.path() + "/secret.md", ws_.path() + "/link.md");
  AcceptanceSpec spec;
  spec.evidence_globs = {"../*"};
  spec.outputs = {OutputSpec{"*.md", 1, {}}};
  const auto r = check(ws(), spec, started_);
  EXPECT_FALSE(r.passed());
  ASSERT_EQ(r.refused.size(), 2u);
  EXPECT_FALSE(r.outputs);  // the link out was not followed
}

TEST_F(AcceptanceTest, DoesNotRunWithoutAWorkspace) {
  const auto r = check(WorkspaceRoots{}, "", AcceptanceSpec::defaults(), started_);
  EXPECT_FALSE(r.ran);
  EXPECT_FALSE(r.passed());
}

TEST_F(AcceptanceTest, AnOutputPathWithADirectoryMatchesThatPathOnly) {
  AcceptanceSpec spec;
  spec.evidence_globs = {"evidence/*"};
  spec.outputs = {OutputSpec{"deliver/*.csv", 10, {}}};
  ws_.file("evidence/e.txt", "e");
  ws_.file("deliver/table.csv", "a,b,c\n1,2,3\n");
  ws_.file("other/table.csv", "a,b,c\n1,2,3\n");
  auto r = check(ws(), spec, started_);
  EXPECT_TRUE(r.passed()) << r.checked.back();
  EXPECT_NE(r.checked[1].find("deliver/table.csv"), std::string::npos);
  spec.outputs = {OutputSpec{"report/*.csv", 1, {}}};
  EXPECT_FALSE(check(ws(), spec, started_).outputs);
}

TEST_F(AcceptanceTest, HiddenDirectoriesAndNodeModulesHoldNoDeliverable) {
  // Without the skip these two would pass the default outputs check (.md and .html).
  ws_.file(".venv/share/README.md", "# a package");
  ws_.file("node_modules/pkg/index.html", "<p>pkg</p>");
  const auto r = check(ws(), AcceptanceSpec::defaults(), started_);
  EXPECT_TRUE(r.ran);
  EXPECT_FALSE(r.outputs);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"raw/*", "*.md", "*.html", "state/PROJECT_STATE.md",
                                                 "state/PROJECT_STATE.html"}));
}

TEST_F(AcceptanceTest, ALinkInsideTheWorkspaceIsNotFollowedNorRefused) {
  // The only .md file lies in a hidden directory (never a deliverable); two links inside
  // the workspace lead to it. Followed, they would pass the outputs check.
  ws_.file("raw/data.json", "{}");
  ws_.file(".real/final.md", "# Findings");
  std::filesystem::create_symlink(".real/final.md", ws_.path() + "/final.md");
  std::filesystem::create_symlink(".real", ws_.path() + "/linked-dir");
  AcceptanceSpec spec;
  spec.outputs = {OutputSpec{"*.md", 1, {}}};
  spec.state_files.clear();
  const auto r = check(ws(), spec, started_);
  EXPECT_TRUE(r.ran);
  EXPECT_TRUE(r.refused.empty());
  EXPECT_FALSE(r.outputs);
}

TEST_F(AcceptanceTest, AWorkspaceThatIsALinkIsRefusedNotRead) {
  testing::TempDir root;
  testing::TempDir victim;
  victim.file("raw/data.json", "{}");
  victim.file("final.md", "# x");
  victim.file("final.html", "<p>x</p>");
  std::filesystem::create_symlink(victim.path(), root.path() + "/ws");
  const auto roots = WorkspaceRoots::create({root.path()});
  const auto r = check(roots, root.path() + "/ws", AcceptanceSpec::defaults(), started_);
  EXPECT_FALSE(r.ran);
  ASSERT_EQ(r.refused.size(), 1u);
  EXPECT_NE(r.checked.front().find("symbolic link"), std::string::npos) << r.checked.front();
}

TEST_F(AcceptanceTest, AWorkspaceBelowALinkIsRefused) {
  testing::TempDir root;
  testing::TempDir victim;
  victim.file("ws/raw/data.json", "{}");
  std::filesystem::create_symlink(victim.path(), root.path() + "/projects");
  const auto r =
      check(WorkspaceRoots::create({root.path()}), root.path() + "/projects/ws", AcceptanceSpec::defaults(), started_);
  EXPECT_FALSE(r.ran);
  EXPECT_EQ(r.refused.size(), 1u);
}

TEST(WorkspaceRootsTest, SlashAndSystemDirectoriesAreNeverRoots) {
  std::vector<std::string> dropped;
  const auto roots =
      WorkspaceRoots::create({"/", "/etc", "/usr/local/x", "/var/lib", "relative", "/home/u/work"}, &dropped);
  EXPECT_EQ(roots.roots(), (std::vector<std::string>{"/home/u/work"}));
  EXPECT_EQ(dropped.size(), 5u);
}

TEST(WorkspaceRootsTest, PlacesAWorkspaceBeneathItsRootAndRefusesTheRest) {
  const auto roots = WorkspaceRoots::create({"/home/u/.hermes/kanban", "/home/u"});
  auto ws = roots.resolve("/home/u//projects/./a/");
  ASSERT_TRUE(ws) << ws.error().message;
  EXPECT_EQ(ws->root, "/home/u");
  EXPECT_EQ(ws->rel, "projects/a");
  EXPECT_FALSE(roots.resolve("/"));
  EXPECT_FALSE(roots.resolve("/etc"));
  EXPECT_FALSE(roots.resolve("/home/u/../../etc"));
  EXPECT_FALSE(roots.resolve("relative/ws"));
  EXPECT_FALSE(roots.resolve("/home/user2/ws"));
}

TEST(WorkspaceRootsTest, DefaultsAreTheKanbanDirTheHomeAndTheRootsParent) {
  EXPECT_EQ(WorkspaceRoots::defaults("/home/u/.hermes", "/home/u"),
            (std::vector<std::string>{"/home/u/.hermes/kanban", "/home/u", "/home/u"}));
  // A root at the top: its parent, "/", is never a root.
  EXPECT_EQ(WorkspaceRoots::create(WorkspaceRoots::defaults("/hermes", "")).roots(),
            (std::vector<std::string>{"/hermes/kanban"}));
}

TEST(AcceptanceRuleTest, TheFirstEntryWhoseSelectorMatchesWins) {
  std::vector<AcceptanceRule> rules(3);
  rules[0].board = "ops";
  rules[0].where = "ops";
  rules[1].assignee = "researcher";
  rules[1].title = *TitlePattern::compile("(?i)^market");
  rules[1].where = "market";
  rules[2].assignee = "researcher";
  rules[2].where = "researcher";
  EXPECT_EQ(select(rules, "ops", "writer", "x")->where, "ops");
  EXPECT_EQ(select(rules, "default", "researcher", "MARKET sizing")->where, "market");
  EXPECT_EQ(select(rules, "default", "researcher", "the market")->where, "researcher");
  EXPECT_EQ(select(rules, "default", "writer", "market"), nullptr);
}

TEST(AcceptanceRuleTest, ATitlePatternThatDoesNotCompileSaysWhere) {
  auto p = TitlePattern::compile("(unclosed");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("offset 9"), std::string::npos) << p.error().message;
}

// Where a decision's state report goes in a workspace a worker controls: beneath an allowed
// root, reached without a link, into a state/ and report files that are not links.
TEST(ReportLocationTest, AWorkspaceBeneathARootGetsItsStateReport) {
  testing::TempDir root;
  root.file("ws/notes.md", "x");
  const auto roots = WorkspaceRoots::create({root.path()});
  auto where = report_location(roots, root.path() + "/ws");
  ASSERT_TRUE(where) << where.error().message;
  ASSERT_TRUE(where->has_value());
  EXPECT_EQ((*where)->file, "state/PROJECT_STATE.md");
  EXPECT_EQ((*where)->display(), root.path() + "/ws/state/PROJECT_STATE.md");
}

TEST(ReportLocationTest, AWorkspaceNotMadeYetHasNoReportAndIsNoError) {
  testing::TempDir root;
  auto where = report_location(WorkspaceRoots::create({root.path()}), root.path() + "/not-yet");
  ASSERT_TRUE(where) << where.error().message;
  EXPECT_FALSE(where->has_value());
}

TEST(ReportLocationTest, RefusesWhatLeavesTheRootsOrIsALink) {
  testing::TempDir root;
  testing::TempDir outside;
  const std::string victim = outside.file("PROJECT_STATE.md", "keep\n");
  const auto roots = WorkspaceRoots::create({root.path()});
  EXPECT_FALSE(report_location(roots, outside.path())) << "a workspace outside every root";
  EXPECT_FALSE(
      report_location(roots, root.path() + "/../" + std::filesystem::path(outside.path()).filename().string()));
  std::filesystem::create_symlink(outside.path(), root.path() + "/linked");
  EXPECT_FALSE(report_location(roots, root.path() + "/linked")) << "a workspace that is a link";
  root.file("a/notes.md", "x");
  std::filesystem::create_directory_symlink(outside.path(), root.path() + "/a/state");
  auto state_link = report_location(roots, root.path() + "/a");
  ASSERT_FALSE(state_link);
  EXPECT_NE(state_link.error().message.find("state/"), std::string::npos) << state_link.error().message;
  root.file("b/state/keep.txt", "x");
  std::filesystem::create_symlink(victim, root.path() + "/b/state/PROJECT_STATE.md");
  auto file_link = report_location(roots, root.path() + "/b");
  ASSERT_FALSE(file_link);
  EXPECT_NE(file_link.error().message.find("PROJECT_STATE.md"), std::string::npos) << file_link.error().message;
  EXPECT_EQ(testing::read_file(victim), "keep\n");
}

}  // namespace
}  // namespace medic::artifacts
