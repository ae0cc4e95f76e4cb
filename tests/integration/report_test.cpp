// The state reports end to end (issue 4 item 3): the real daemon appends each decision to
// the task's state/PROJECT_STATE.md and .html and to the board-wide pair in its state
// directory; the HTML is then loaded in headless Chromium, its rows read from the DOM the
// browser built, and a screenshot saved under the build directory.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "integration/daemon_harness.h"
#include "report/state_report.h"

namespace medic {
namespace {

using testing::DaemonHarness;
using testing::SocketClient;
using testing::TempDir;
using namespace std::chrono_literals;

constexpr const char* kProviderLine = "   🔌 Provider: openai-codex  Model: gpt-5.5\n";

// Waits (bounded) until the report at `path` holds `rows` decisions.
bool wait_for_rows(const std::string& path, std::size_t rows) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (auto s = report::read_section(path); s && s->decisions.size() >= rows) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::string find_chromium() {
  if (const char* env = std::getenv("MEDIC_CHROMIUM"); env && *env) return env;
  for (const char* p : {"/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

// Two decisions for one task: the seed's timeout with evidence saved, then a rate limit.
class ReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    h_.start();
    SocketClient client(h_.socket(), 0);
    ws_.file("raw/search-results.json", "{\"results\": [1, 2, 3]}");
    ws_.file("state/PROJECT_STATE.md", "# Market research\n\nThe worker's own notes.\n");
    h_.board().create_task("t_52cac9ce", "Market research", "researcher", ws_.path());
    h_.board().claim("t_52cac9ce", DaemonHarness::now());
    h_.append("t_52cac9ce", std::string(kProviderLine) + "   📝 Error: Request timed out.\n[kanban-worker-exit] rc=0\n");
    ASSERT_TRUE(client.next_of("decision")) << h_.daemon_log();
    h_.board().claim("t_52cac9ce", DaemonHarness::now());
    h_.append("t_52cac9ce", std::string(kProviderLine) +
                                "   📝 Error: HTTP 429: The usage limit has been reached. plan_type: team, resets_at: " +
                                std::to_string(DaemonHarness::now() + 3600) + "\n[kanban-worker-exit] rc=1\n");
    ASSERT_TRUE(client.next_of("decision")) << h_.daemon_log();
  }
  std::string ws_state(const char* name) const { return ws_.path() + "/state/" + name; }
  std::string board_state(const char* name) const { return h_.state() + "/state/default/" + name; }

  DaemonHarness h_;
  TempDir ws_{h_.dir()};
};

TEST_F(ReportTest, EveryDecisionIsAppendedToTheWorkspaceAndBoardReports) {
  for (const auto& path : {ws_state("PROJECT_STATE.md"), ws_state("PROJECT_STATE.html"),
                           board_state("PROJECT_STATE.md"), board_state("PROJECT_STATE.html")}) {
    ASSERT_TRUE(wait_for_rows(path, 2)) << path << "\n" << h_.daemon_log();
    auto s = report::read_section(path);
    ASSERT_TRUE(s);
    EXPECT_EQ(s->decisions[0].action, "resume") << path;
    EXPECT_EQ(s->decisions[1].action, "retry_at") << path;
    EXPECT_EQ(s->decisions[1].failure_class, "rate_limit") << path;
    ASSERT_EQ(s->health.size(), 1u) << path;
    EXPECT_EQ(s->health[0].provider, "openai-codex");
  }
  // The worker's own text is kept as it was, ahead of medic's section.
  EXPECT_EQ(testing::read_file(ws_state("PROJECT_STATE.md"))
                .rfind("# Market research\n\nThe worker's own notes.\n<!-- medic:begin", 0),
            0u);
}

TEST_F(ReportTest, TheHtmlReportShowsItsRowsInHeadlessChromium) {
  const std::string chromium = find_chromium();
  ASSERT_FALSE(chromium.empty()) << "Chromium is needed for this test: scripts/setup.sh --browser installs it";
  const std::string page = ws_state("PROJECT_STATE.html");
  ASSERT_TRUE(wait_for_rows(page, 2)) << h_.daemon_log();
  TempDir profile;
  const std::vector<std::string> common = {chromium,
                                           "--headless",
                                           "--no-sandbox",
                                           "--disable-gpu",
                                           "--no-first-run",
                                           "--user-data-dir=" + profile.path(),
                                           "--window-size=1280,900"};
  // The DOM as Chromium built it from the file.
  auto args = common;
  args.push_back("--dump-dom");
  args.push_back("file://" + page);
  const auto dom = testing::run_process(args);
  ASSERT_EQ(dom.exit_code, 0) << dom.err;
  const std::size_t table = dom.out.find("<table class=\"medic-actions\">");
  ASSERT_NE(table, std::string::npos) << dom.out.substr(0, 2000);
  const std::string body = dom.out.substr(table, dom.out.find("</table>", table) - table);
  const std::regex row(
      R"(<tr data-decision="default/t_52cac9ce/\d+"><td class="time">[0-9: -]+</td><td>t_52cac9ce</td><td>([a-z_]+)</td><td class="action">([a-z_]+)</td>)");
  std::vector<std::string> seen;
  for (auto it = std::sregex_iterator(body.begin(), body.end(), row); it != std::sregex_iterator(); ++it) {
    seen.push_back((*it)[1].str() + "/" + (*it)[2].str());
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"timeout/resume", "rate_limit/retry_at"})) << body;
  EXPECT_NE(dom.out.find("<td class=\"unhealthy\">unhealthy</td>"), std::string::npos);

  // A screenshot for people to look at (build/report-screenshot.png).
  const std::string shot = std::string(MEDIC_BUILD_DIR) + "/report-screenshot.png";
  std::filesystem::remove(shot);
  args = common;
  args.push_back("--screenshot=" + shot);
  args.push_back("file://" + page);
  const auto png = testing::run_process(args);
  ASSERT_EQ(png.exit_code, 0) << png.err;
  const std::string bytes = testing::read_file(shot);
  ASSERT_GT(bytes.size(), 8u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
}

}  // namespace
}  // namespace medic
