#include "app/preflight_command.h"

#include "app/child_process.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/beneath.h"

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

// The profile HOME as a descriptor. Without --beneath the path is the operator's own;
// with it, the HOME must lie beneath that directory and every component from there on is
// opened without following a link (an assignee "../victim" or a profile dir that is a
// link never leads elsewhere).
core::Result<core::UniqueFd> open_profile(const std::string& profile, const std::optional<std::string>& beneath) {
  if (!beneath) return core::open_trusted_dir(profile);
  auto rel = core::relative_to(*beneath, profile);
  if (!rel) return tl::unexpected(rel.error());
  auto base = core::open_trusted_dir(*beneath);
  if (!base) return tl::unexpected(base.error());
  return core::open_dir_beneath(base->get(), *rel, false);
}

}  // namespace

int run_preflight(const cli::PreflightOptions& o) {
  const std::string profile = o.profile_home;
  std::string main_home = o.main_home.value_or(std::getenv("HOME") ? std::getenv("HOME") : "");
  auto home_fd = open_profile(profile, o.beneath);
  if (!home_fd) {
    std::fprintf(stderr, "medic preflight: profile HOME %s refused: %s\n", profile.c_str(),
                 home_fd.error().message.c_str());
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

  // Everything below the profile HOME is reached through descriptors without following a
  // link: a worker can make .codex a link to another directory, and medic may run as root.
  const std::string profile_auth = profile + "/.codex/auth.json";
  const fs::path main_auth = fs::path(main_home) / ".codex" / "auth.json";
  struct stat st_codex {};
  if (::fstatat(home_fd->get(), ".codex", &st_codex, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(st_codex.st_mode)) {
    step("found", profile + "/.codex is " + (S_ISLNK(st_codex.st_mode) ? "a link" : "not a directory") +
                      "; medic never writes through it");
    step("fail", "remove " + profile + "/.codex (or make it a real directory), then run this preflight again");
    return 1;
  }
  core::UniqueFd codex_dir;
  if (S_ISDIR(st_codex.st_mode)) {
    auto d = core::open_beneath(home_fd->get(), ".codex", O_RDONLY | O_DIRECTORY);
    if (!d) {
      step("fail", profile + "/.codex: " + d.error().message);
      return 1;
    }
    codex_dir = std::move(*d);
  }
  struct stat st_auth {};
  const bool have_auth = codex_dir && ::fstatat(codex_dir.get(), "auth.json", &st_auth, AT_SYMLINK_NOFOLLOW) == 0;
  if (have_auth && S_ISLNK(st_auth.st_mode)) {
    char target[4096];
    const ssize_t n = ::readlinkat(codex_dir.get(), "auth.json", target, sizeof target - 1);
    const std::string t = n >= 0 ? std::string(target, static_cast<std::size_t>(n)) : std::string("?");
    if (fs::path(t) == main_auth) {
      step("found", profile_auth + " already links to " + main_auth.string() +
                        ", yet the login check fails: the main user's login itself is not valid");
    } else {
      step("found", profile_auth + " is a link to " + t + " that medic did not create; it is left as it is");
    }
    step("fail", relogin);
    return 1;
  }
  if (have_auth) {
    step("found", profile_auth + " is the profile's own file; medic does not overwrite it");
    step("fail", "re-login to Codex for this profile: run `HOME=" + profile + " " + codex +
                     " login`, or remove that file to use the main user's login");
    return 1;
  }
  step("found", profile_auth + " is missing");
  std::error_code ec;
  if (main_home.empty() || !fs::is_regular_file(main_auth, ec)) {
    step("found", "the main user has no " + main_auth.string());
    step("fail", relogin);
    return 1;
  }
  if (!codex_dir) {
    // mkdirat never follows a link at the name, and the O_NOFOLLOW open that follows
    // refuses one swapped in between.
    auto d = core::open_dir_beneath(home_fd->get(), ".codex", true);
    if (!d) {
      step("fail", "cannot create " + profile + "/.codex: " + d.error().message);
      return 1;
    }
    codex_dir = std::move(*d);
  }
  ::fchmod(codex_dir.get(), 0700);  // the descriptor's directory, never a link's target
  if (::symlinkat(main_auth.c_str(), codex_dir.get(), "auth.json") != 0) {
    step("fail", "cannot link " + profile_auth + " -> " + main_auth.string() + ": " + std::strerror(errno));
    return 1;
  }
  step("repair", "linked " + profile_auth + " -> " + main_auth.string());
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
