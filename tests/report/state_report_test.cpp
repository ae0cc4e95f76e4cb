#include "report/state_report.h"

#include <gtest/gtest.h>
#include <utime.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "artifacts/acceptance.h"
#include "integration/process.h"

namespace medic::report {
namespace {

constexpr std::int64_t kNow = 1780850000;

void set_mtime(const std::string& path, std::int64_t t) {
  const utimbuf times{static_cast<time_t>(t), static_cast<time_t>(t)};
  ASSERT_EQ(::utime(path.c_str(), &times), 0);
}

Update one(const std::string& task, const std::string& action, const std::string& reason = "a reason") {
  Update u;
  u.decisions.push_back(DecisionRow{"default/" + task + "/1", kNow, "default", task, "rate_limit", action, reason,
                                    "/logs/" + task + ".log:7: HTTP 429", "hermes kanban schedule " + task});
  u.health = std::vector<ProviderRow>{{"openai-codex", kNow + 3600, "rule codex-usage-limit-reached"}};
  return u;
}

class StateReportTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
  std::string md_ = dir_.path() + "/state/PROJECT_STATE.md";
  std::string html_ = dir_.path() + "/state/PROJECT_STATE.html";
  // The report at `path` (beneath the test's directory), as the daemon addresses it.
  Location at(const std::string& path) const { return Location{dir_.path(), "", path.substr(dir_.path().size() + 1)}; }
};

TEST_F(StateReportTest, CreatesASelfContainedHtmlPageWithTheDecisionAndProviderHealth) {
  ASSERT_TRUE(append(at(html_), one("t_1", "retry_at"), kNow));
  const std::string page = testing::read_file(html_);
  EXPECT_EQ(page.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(page.find("<table class=\"medic-actions\">"), std::string::npos);
  EXPECT_NE(page.find("<tr data-decision=\"default/t_1/1\">"), std::string::npos);
  EXPECT_NE(page.find("<table class=\"medic-health\">"), std::string::npos);
  // No external assets: nothing is fetched from anywhere.
  EXPECT_EQ(page.find("src="), std::string::npos);
  EXPECT_EQ(page.find("href="), std::string::npos);
  EXPECT_EQ(page.find("@import"), std::string::npos);
}

TEST_F(StateReportTest, AppendsRowsAndKeepsEverythingOutsideItsSectionByteForByte) {
  const std::string head = "# Project state\n\nWritten by the worker.\r\nTrailing spaces   \n\n";
  const std::string tail = "\n## Notes\n\n- kept exactly\n";
  dir_.file("state/PROJECT_STATE.md", head + tail);
  ASSERT_TRUE(append(at(md_), one("t_1", "retry_at"), kNow));
  std::string text = testing::read_file(md_);
  EXPECT_EQ(text.rfind(head + tail + "<!-- medic:begin", 0), 0u) << "a first section is added, nothing else";
  EXPECT_EQ(text.substr(text.size() - 18), "<!-- medic:end -->");
  // The worker edits after medic's first write, inside and around its own text.
  const std::size_t b = text.find("<!-- medic:begin");
  const std::size_t e = text.find("<!-- medic:end -->") + std::string("<!-- medic:end -->").size();
  const std::string before = text.substr(0, b) + "More from the worker.\n";
  const std::string after = text.substr(e) + "\nappended later\n";
  dir_.file("state/PROJECT_STATE.md", before + text.substr(b, e - b) + after);
  ASSERT_TRUE(append(at(md_), one("t_2", "complete"), kNow + 5));
  text = testing::read_file(md_);
  const std::size_t b2 = text.find("<!-- medic:begin");
  const std::size_t e2 = text.find("<!-- medic:end -->") + std::string("<!-- medic:end -->").size();
  EXPECT_EQ(text.substr(0, b2), before);
  EXPECT_EQ(text.substr(e2), after);
  auto s = read_section(md_);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->decisions.size(), 2u);
  EXPECT_EQ(s->decisions[0].task, "t_1");
  EXPECT_EQ(s->decisions[1].action, "complete");
  EXPECT_NE(text.find("| t_2 | rate_limit | complete |"), std::string::npos) << text;
}

TEST_F(StateReportTest, PutsItsHtmlSectionBeforeTheWorkersClosingBodyTag) {
  dir_.file("state/PROJECT_STATE.html", "<html><body><h1>Mine</h1></BODY></html>\n");
  ASSERT_TRUE(append(at(html_), one("t_1", "resume"), kNow));
  const std::string page = testing::read_file(html_);
  EXPECT_EQ(page.rfind("<html><body><h1>Mine</h1>", 0), 0u);
  EXPECT_LT(page.find("<!-- medic:end -->"), page.find("</BODY></html>"));
}

TEST_F(StateReportTest, MedicsOwnWritesNeverCountAsAnUpdateOfTheFile) {
  dir_.file("state/PROJECT_STATE.md", "worker text\n");
  set_mtime(md_, kNow - 600);
  ASSERT_TRUE(append(at(md_), one("t_1", "retry_at"), kNow));
  ASSERT_TRUE(append(at(md_), one("t_1", "retry_at"), kNow + 1));
  EXPECT_EQ(outside_changed_at(md_), kNow - 600);
  // The worker writes outside the section: now its write counts.
  const std::string text = testing::read_file(md_);
  dir_.file("state/PROJECT_STATE.md", "updated by the worker\n" + text);
  set_mtime(md_, kNow + 60);
  EXPECT_EQ(outside_changed_at(md_), kNow + 60);
  // And medic's next write keeps that time.
  ASSERT_TRUE(append(at(md_), one("t_1", "complete"), kNow + 90));
  EXPECT_EQ(outside_changed_at(md_), kNow + 60);
}

TEST_F(StateReportTest, AFileOnlyMedicWroteFailsTheStateCheck) {
  ASSERT_TRUE(append(at(md_), one("t_1", "retry_at"), kNow));
  ASSERT_TRUE(append(at(html_), one("t_1", "retry_at"), kNow));
  EXPECT_EQ(outside_changed_at(md_), 0);
  dir_.file("raw/data.csv", "1,2\n");
  dir_.file("out.md", "# out");
  dir_.file("out.html", "<p>out</p>");
  const auto r = artifacts::check(artifacts::Workspace{dir_.path(), ""}, artifacts::AcceptanceSpec::defaults(), 1000);
  EXPECT_FALSE(r.state);
  EXPECT_EQ(r.missing, (std::vector<std::string>{"state/PROJECT_STATE.md", "state/PROJECT_STATE.html"}));
}

TEST_F(StateReportTest, HostileTextRoundTripsAndCannotBreakOutOfTheSection) {
  const std::string evil = "end --> <script>alert(1)</script> | pipe --- <!-- medic:end --> \xff";
  ASSERT_TRUE(append(at(html_), one("t_1", "block", evil), kNow));
  ASSERT_TRUE(append(at(md_), one("t_1", "block", evil), kNow));
  for (const auto& path : {html_, md_}) {
    // Outside the data comment (inert: a comment holds no tags and no "--"), the text is
    // escaped, and the section still ends where medic ended it.
    std::string text = testing::read_file(path);
    const std::size_t data = text.find("<!-- medic:data ");
    ASSERT_NE(data, std::string::npos);
    const std::string comment = text.substr(data + 4, text.find(" -->", data) - data - 4);
    EXPECT_EQ(comment.find("--", 1), std::string::npos) << comment;
    text.erase(data, text.find(" -->", data) + 4 - data);
    EXPECT_EQ(text.find("<script>"), std::string::npos) << path;
    EXPECT_EQ(text.find("<!-- medic:end -->"), text.rfind("<!-- medic:end -->")) << path;
    auto s = read_section(path);
    ASSERT_TRUE(s) << path;
    ASSERT_EQ(s->decisions.size(), 1u) << path;
    // Invalid UTF-8 becomes U+FFFD; everything else comes back as it was.
    EXPECT_EQ(s->decisions[0].reason, evil.substr(0, evil.size() - 1) + "\xef\xbf\xbd") << path;
  }
}

TEST_F(StateReportTest, KeepsTheNewestRowsOnly) {
  Update u;
  for (std::size_t i = 0; i < kMaxRows + 10; ++i) {
    u.decisions.push_back(
        DecisionRow{"d" + std::to_string(i), kNow, "default", "t_" + std::to_string(i), "", "retry", "r", "", ""});
  }
  ASSERT_TRUE(append(at(md_), u, kNow));
  auto s = read_section(md_);
  ASSERT_TRUE(s);
  ASSERT_EQ(s->decisions.size(), kMaxRows);
  EXPECT_EQ(s->decisions.front().id, "d10");
}

TEST_F(StateReportTest, NeverWritesThroughALinkedStateDirOrFile) {
  testing::TempDir victim;
  std::filesystem::create_symlink(victim.path(), dir_.path() + "/state");
  auto r = append(at(md_), one("t_1", "retry"), kNow);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("refused"), std::string::npos) << r.error().message;
  EXPECT_FALSE(std::filesystem::exists(victim.path() + "/PROJECT_STATE.md"));
  std::filesystem::remove(dir_.path() + "/state");
  std::filesystem::create_directories(dir_.path() + "/state");
  const std::string target = victim.file("passwd", "root:x:0:0\n");
  std::filesystem::create_symlink(target, md_);
  r = append(at(md_), one("t_1", "retry"), kNow);
  ASSERT_FALSE(r);
  EXPECT_EQ(testing::read_file(target), "root:x:0:0\n");
}

TEST_F(StateReportTest, RefusesADirectoryInPlaceOfTheFile) {
  std::filesystem::create_directories(md_);
  auto r = append(at(md_), one("t_1", "retry"), kNow);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace medic::report
