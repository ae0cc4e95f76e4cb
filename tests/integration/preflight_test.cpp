// `medic preflight` with a stand-in `codex` (the real CLI cannot run here): it reports
// "Logged in" only when $HOME/.codex/auth.json holds a valid token, as the real
// `codex login status` does for a profile HOME.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "integration/process.h"

namespace medic {
namespace {

namespace fs = std::filesystem;
using testing::run_process;
using testing::TempDir;

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    codex_ = dir_.file("bin/codex",
                       "#!/bin/sh\n"
                       "echo \"$@\" >> \"" +
                           dir_.path() +
                           "/codex-calls\"\n"
                           "if grep -q valid-token \"$HOME/.codex/auth.json\" 2>/dev/null; then\n"
                           "  echo 'Logged in using ChatGPT'; exit 0\n"
                           "fi\n"
                           "echo 'Not logged in'; exit 1\n");
    ::chmod(codex_.c_str(), 0755);
    fs::create_directories(profile());
    fs::create_directories(main_home());
  }
  std::string profile() const { return dir_.path() + "/profiles/researcher"; }
  std::string main_home() const { return dir_.path() + "/main"; }
  testing::ProcessResult preflight() {
    return run_process(
        {MEDIC_BINARY, "preflight", "--profile-home", profile(), "--main-home", main_home(), "--codex", codex_});
  }
  TempDir dir_;
  std::string codex_;
};

TEST_F(PreflightTest, SucceedsWithoutChangesWhenTheProfileIsLoggedIn) {
  dir_.file("profiles/researcher/.codex/auth.json", "{\"token\":\"valid-token\"}");
  const auto r = preflight();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  EXPECT_NE(r.out.find("the profile is logged in"), std::string::npos);
  EXPECT_FALSE(fs::is_symlink(profile() + "/.codex/auth.json"));
}

TEST_F(PreflightTest, LinksTheMainUsersLoginIntoAProfileWithoutOne) {
  dir_.file("main/.codex/auth.json", "{\"token\":\"valid-token\"}");
  const auto r = preflight();
  EXPECT_EQ(r.exit_code, 0) << r.out;
  ASSERT_TRUE(fs::is_symlink(profile() + "/.codex/auth.json"));
  EXPECT_EQ(fs::read_symlink(profile() + "/.codex/auth.json"), fs::path(main_home() + "/.codex/auth.json"));
  EXPECT_NE(r.out.find("repair  linked"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("through the main user's login"), std::string::npos);
}

TEST_F(PreflightTest, FailsWithTheReloginInstructionWhenNobodyIsLoggedIn) {
  const auto r = preflight();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("re-login to Codex"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("API token"), std::string::npos) << "never a vague request for an API token";
  EXPECT_FALSE(fs::exists(fs::symlink_status(profile() + "/.codex/auth.json")));
}

TEST_F(PreflightTest, NeverOverwritesTheProfilesOwnFile) {
  dir_.file("main/.codex/auth.json", "{\"token\":\"valid-token\"}");
  dir_.file("profiles/researcher/.codex/auth.json", "{\"token\":\"expired\"}");
  const auto r = preflight();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_FALSE(fs::is_symlink(profile() + "/.codex/auth.json"));
  std::ifstream in(profile() + "/.codex/auth.json");
  std::string content((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(content, "{\"token\":\"expired\"}");
  EXPECT_NE(r.out.find("does not overwrite"), std::string::npos) << r.out;
}

TEST_F(PreflightTest, LeavesALinkItDidNotCreateAlone) {
  dir_.file("main/.codex/auth.json", "{\"token\":\"valid-token\"}");
  dir_.file("elsewhere/auth.json", "{\"token\":\"expired\"}");
  fs::create_directories(profile() + "/.codex");
  fs::create_symlink(dir_.path() + "/elsewhere/auth.json", profile() + "/.codex/auth.json");
  const auto r = preflight();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_EQ(fs::read_symlink(profile() + "/.codex/auth.json"), fs::path(dir_.path() + "/elsewhere/auth.json"));
  EXPECT_NE(r.out.find("medic did not create"), std::string::npos) << r.out;
}

TEST_F(PreflightTest, NeverWritesThroughACodexDirThatIsALink) {
  dir_.file("main/.codex/auth.json", "{\"token\":\"valid-token\"}");
  fs::create_directories(dir_.path() + "/victim");
  ::chmod((dir_.path() + "/victim").c_str(), 0755);
  fs::create_symlink(dir_.path() + "/victim", profile() + "/.codex");
  const auto r = preflight();
  EXPECT_EQ(r.exit_code, 1) << r.out;
  EXPECT_NE(r.out.find(".codex is a link; medic never writes through it"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_.path() + "/victim/auth.json")));
  struct stat st {};
  ASSERT_EQ(::stat((dir_.path() + "/victim").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "the link's target was chmod-ed";
}

TEST_F(PreflightTest, AProfileHomeThatLeavesItsBaseIsRefused) {
  // What `medic act` passes for an {assignee} template: the HOME must lie beneath --beneath,
  // reached without a link. An assignee "../victim" or a profile dir that is a link fails.
  fs::create_directories(dir_.path() + "/victim");
  fs::create_symlink(dir_.path() + "/victim", dir_.path() + "/profiles/linked");
  for (const std::string& home : {dir_.path() + "/profiles/../victim", dir_.path() + "/profiles/linked"}) {
    const auto r = run_process({MEDIC_BINARY, "preflight", "--beneath", dir_.path() + "/profiles", "--profile-home",
                                home, "--main-home", main_home(), "--codex", codex_});
    EXPECT_EQ(r.exit_code, 2) << home << ": " << r.out;
    EXPECT_NE(r.err.find("refused"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(fs::exists(dir_.path() + "/victim/.codex"));
  EXPECT_EQ(testing::read_file(dir_.path() + "/codex-calls"), "") << "codex ran for a refused HOME";
}

TEST_F(PreflightTest, ReportsAMissingCodexCli) {
  const auto r = run_process({MEDIC_BINARY, "preflight", "--profile-home", profile(), "--codex", "/nonexistent/codex"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.out.find("not installed"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace medic
