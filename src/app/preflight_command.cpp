#include "app/preflight_command.h"

#include "app/child_process.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

extern char** environ;

namespace medic::app {
namespace {

namespace fs = std::filesystem;

struct Status {
  int exit_code = -1;
  std::string output;
  bool logged_in() const {
    return exit_code == 0 && output.find("Logged in") != std::string::npos &&
           output.find("Not logged in") == std::string::npos;
  }
};

// Runs `<codex> login status` with HOME set to the profile, capturing stdout+stderr.
Status login_status(const std::string& codex, const std::string& home) {
  const ChildResult r = run_child({codex, "login", "status"}, {"HOME=" + home});
  return Status{r.exit_code, r.output};
}

void step(const char* tag, const std::string& text) { std::printf("%-7s %s\n", tag, text.c_str()); }

}  // namespace

int run_preflight(const cli::PreflightOptions& o) {
  const std::string profile = o.profile_home;
  std::string main_home = o.main_home.value_or(std::getenv("HOME") ? std::getenv("HOME") : "");
  std::error_code ec;
  if (!fs::is_directory(profile, ec)) {
    std::fprintf(stderr, "medic preflight: profile HOME %s is not a directory\n", profile.c_str());
    return 2;
  }
  const std::string codex = o.codex;
  const std::string relogin = "re-login to Codex: run `" + codex + " login` as the main user (HOME=" + main_home +
                              "), then run this preflight again";

  Status st = login_status(codex, profile);
  step("check",
       "HOME=" + profile + " " + codex + " login status -> exit " + std::to_string(st.exit_code) + ": " + st.output);
  if (st.logged_in()) {
    step("ok", "the profile is logged in to Codex");
    return 0;
  }
  if (st.exit_code == 127) {
    step("fail",
         "the Codex CLI (" + codex + ") is not installed or not on PATH: install it (npm install -g @openai/codex)");
    return 1;
  }

  const fs::path profile_auth = fs::path(profile) / ".codex" / "auth.json";
  const fs::path main_auth = fs::path(main_home) / ".codex" / "auth.json";
  const auto profile_status = fs::symlink_status(profile_auth, ec);
  if (fs::is_symlink(profile_status)) {
    const fs::path target = fs::read_symlink(profile_auth, ec);
    if (target == main_auth) {
      step("found", profile_auth.string() + " already links to " + main_auth.string() +
                        ", yet the login check fails: the main user's login itself is not valid");
    } else {
      step("found", profile_auth.string() + " is a link to " + target.string() +
                        " that medic did not create; it is left as it is");
    }
    step("fail", relogin);
    return 1;
  }
  if (fs::exists(profile_status)) {
    step("found", profile_auth.string() + " is the profile's own file; medic does not overwrite it");
    step("fail", "re-login to Codex for this profile: run `HOME=" + profile + " " + codex +
                     " login`, or remove that file to use the main user's login");
    return 1;
  }
  step("found", profile_auth.string() + " is missing");
  if (main_home.empty() || !fs::is_regular_file(main_auth, ec)) {
    step("found", "the main user has no " + main_auth.string());
    step("fail", relogin);
    return 1;
  }
  fs::create_directories(profile_auth.parent_path(), ec);
  ::chmod(profile_auth.parent_path().c_str(), 0700);
  fs::create_symlink(main_auth, profile_auth, ec);
  if (ec) {
    step("fail", "cannot link " + profile_auth.string() + " -> " + main_auth.string() + ": " + ec.message());
    return 1;
  }
  step("repair", "linked " + profile_auth.string() + " -> " + main_auth.string());
  st = login_status(codex, profile);
  step("check",
       "HOME=" + profile + " " + codex + " login status -> exit " + std::to_string(st.exit_code) + ": " + st.output);
  if (st.logged_in()) {
    step("ok", "the profile is logged in to Codex through the main user's login");
    return 0;
  }
  step("fail", relogin);
  return 1;
}

}  // namespace medic::app
