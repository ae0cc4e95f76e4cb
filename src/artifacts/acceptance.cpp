#include "artifacts/acceptance.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pcre2.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <cerrno>
#include <cstring>

#include "core/beneath.h"
#include "report/state_report.h"

namespace medic::artifacts {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string rel;  // relative path, '/' separated
  std::uint64_t size = 0;
};

bool under(const std::string& rel, const char* dir) {
  const std::string d = std::string(dir) + "/";
  return rel.compare(0, d.size(), d) == 0;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Whether a link at `link_rel` (workspace-relative) with `target` points out of the
// workspace whose absolute path is `ws_abs`, judged lexically (links are never followed).
bool link_escapes(const std::string& ws_abs, const std::string& link_rel, const std::string& target) {
  if (!target.empty() && target.front() == '/') {
    auto rel = core::relative_to(ws_abs, target);
    return !rel.has_value();
  }
  std::vector<std::string> parts;
  std::size_t i = 0;
  const std::string dir = fs::path(link_rel).parent_path().generic_string();
  const std::string joined = dir.empty() ? target : dir + "/" + target;
  while (i <= joined.size()) {
    const std::size_t j = std::min(joined.find('/', i), joined.size());
    const std::string c = joined.substr(i, j - i);
    if (c == "..") {
      if (parts.empty()) return true;
      parts.pop_back();
    } else if (!c.empty() && c != ".") {
      parts.push_back(c);
    }
    i = j + 1;
  }
  return false;
}

// Lists every regular file of the workspace through descriptors: a directory is opened
// relative to its parent with O_NOFOLLOW, so a link swapped in mid-walk is never entered.
struct Walker {
  std::string ws_abs;
  std::vector<Entry>& files;
  std::vector<std::string>& refused;
  std::size_t entries = 0;
  std::string error;
  static constexpr std::size_t kMaxEntries = 100000;
  static constexpr int kMaxDepth = 64;

  bool over() const { return entries > kMaxEntries; }

  void walk(int fd, const std::string& prefix, int depth) {
    DIR* d = ::fdopendir(fd);
    if (!d) {
      ::close(fd);
      if (prefix.empty()) error = std::strerror(errno);
      return;
    }
    struct DirClose {
      DIR* d;
      ~DirClose() { ::closedir(d); }
    } closer{d};
    errno = 0;
    while (struct dirent* e = ::readdir(d)) {
      const std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      if (++entries > kMaxEntries) return;
      const std::string rel = prefix.empty() ? name : prefix + "/" + name;
      struct stat st {};
      if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone since the listing
      if (S_ISLNK(st.st_mode)) {
        char target[4096];
        const ssize_t n = ::readlinkat(::dirfd(d), name.c_str(), target, sizeof target - 1);
        if (n >= 0 && link_escapes(ws_abs, rel, std::string(target, static_cast<std::size_t>(n))))
          refused.push_back(rel + " (a link out of the workspace)");
        continue;  // links are never followed, in or out
      }
      if (S_ISDIR(st.st_mode)) {
        // What holds no deliverable (hidden directories such as .git, node_modules).
        if (name[0] == '.' || name == "node_modules" || depth >= kMaxDepth) continue;
        const int sub = ::openat(::dirfd(d), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (sub < 0) continue;  // unreadable or swapped for a link: skipped, never followed
        walk(sub, rel, depth + 1);
        if (over()) return;
        continue;
      }
      if (S_ISREG(st.st_mode)) files.push_back(Entry{rel, static_cast<std::uint64_t>(st.st_size)});
      errno = 0;
    }
    if (errno != 0 && prefix.empty()) error = std::strerror(errno);
  }
};

// The text of a regular file in the workspace (not a link, not a FIFO), at most kMax bytes.
std::optional<std::string> read_beneath(int ws_fd, const std::string& rel) {
  constexpr std::size_t kMax = 16u << 20;
  auto fd = core::open_beneath(ws_fd, rel, O_RDONLY | O_NONBLOCK);
  if (!fd) return std::nullopt;
  struct stat st {};
  if (::fstat(fd->get(), &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  std::string out;
  char buf[65536];
  while (out.size() < kMax) {
    const ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace

AcceptanceSpec AcceptanceSpec::defaults() {
  AcceptanceSpec s;
  s.evidence_globs = {"raw/*", "evidence/*"};
  s.outputs = {OutputSpec{"*.md", 1, {}}, OutputSpec{"*.html", 1, {}}};
  s.state_files = {"state/PROJECT_STATE.md", "state/PROJECT_STATE.html"};
  return s;
}

bool AcceptanceRule::matches(const std::string& task_board, const std::string& task_assignee,
                             const std::string& task_title) const {
  if (!board.empty() && board != task_board) return false;
  if (!assignee.empty() && assignee != task_assignee) return false;
  return !title || title->search(task_title);
}

core::Result<TitlePattern> TitlePattern::compile(const std::string& pattern) {
  int code = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* re =
      pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF, &code, &offset, nullptr);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    return core::fail(core::ErrorCode::Compile,
                      std::string(reinterpret_cast<const char*>(msg)) + " at offset " + std::to_string(offset));
  }
  TitlePattern p;
  p.code_ = std::shared_ptr<const void>(
      re, [](const void* c) { pcre2_code_free(static_cast<pcre2_code*>(const_cast<void*>(c))); });
  return p;
}

bool TitlePattern::search(const std::string& title) const {
  auto* re = static_cast<const pcre2_code*>(code_.get());
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re, nullptr);
  const int rc = pcre2_match(re, reinterpret_cast<PCRE2_SPTR>(title.data()), title.size(), 0, 0, md, nullptr);
  pcre2_match_data_free(md);
  return rc >= 0;
}

const AcceptanceRule* select(const std::vector<AcceptanceRule>& rules, const std::string& board,
                             const std::string& assignee, const std::string& title) {
  for (const auto& r : rules) {
    if (r.matches(board, assignee, title)) return &r;
  }
  return nullptr;
}

core::Result<core::UniqueFd> open_workspace(const Workspace& ws) {
  auto root = core::open_trusted_dir(ws.root);
  if (!root) return tl::unexpected(root.error());
  return core::open_dir_beneath(root->get(), ws.rel, false);
}

bool WorkspaceRoots::is_system_dir(const std::string& p) {
  static const char* const kExact[] = {"/",         "/var",         "/var/lib", "/var/log", "/var/cache", "/var/spool",
                                       "/var/mail", "/var/backups", "/run",     "/srv",     "/opt",       "/home",
                                       "/mnt",      "/media",       "/snap",    "/tmp",     "/var/tmp"};
  static const char* const kTrees[] = {"/etc",    "/usr",  "/bin", "/sbin", "/lib", "/lib32",       "/lib64",
                                       "/libx32", "/boot", "/dev", "/proc", "/sys", "/var/lib/dpkg"};
  for (const char* e : kExact) {
    if (p == e) return true;
  }
  for (const char* t : kTrees) {
    const std::string tree = t;
    if (p == tree || p.compare(0, tree.size() + 1, tree + "/") == 0) return true;
  }
  return false;
}

WorkspaceRoots WorkspaceRoots::create(const std::vector<std::string>& roots, std::vector<std::string>* dropped) {
  WorkspaceRoots out;
  for (const auto& r : roots) {
    auto n = core::normalize_absolute(r);
    if (!n) {
      if (dropped) dropped->push_back(r + " (" + n.error().message + ")");
      continue;
    }
    if (is_system_dir(*n)) {
      if (dropped) dropped->push_back(*n + " (/ and system directories are never workspace roots)");
      continue;
    }
    if (std::find(out.roots_.begin(), out.roots_.end(), *n) == out.roots_.end()) out.roots_.push_back(*n);
  }
  return out;
}

std::vector<std::string> WorkspaceRoots::defaults(const std::string& hermes_root, const std::string& home) {
  std::vector<std::string> out{hermes_root + "/kanban"};
  if (!home.empty()) out.push_back(home);
  if (auto n = core::normalize_absolute(hermes_root); n && *n != "/") {
    out.push_back(fs::path(*n).parent_path().string());
  }
  return out;
}

core::Result<Workspace> WorkspaceRoots::resolve(const std::string& workspace_path) const {
  auto n = core::normalize_absolute(workspace_path);
  if (!n) return tl::unexpected(n.error());
  for (const auto& root : roots_) {
    if (auto rel = core::relative_to(root, *n)) return Workspace{root, *rel};
  }
  std::string list;
  for (const auto& r : roots_) list += (list.empty() ? "" : ", ") + r;
  return core::fail(core::ErrorCode::InvalidArgument,
                    *n + " is outside the allowed workspace roots (" + (list.empty() ? "none" : list) + ")");
}

CheckResult check(const WorkspaceRoots& roots, const std::string& workspace_path, const AcceptanceSpec& spec,
                  std::int64_t run_started) {
  if (workspace_path.empty()) {
    CheckResult r;
    r.checked.push_back("missing: the workspace (none set)");
    r.missing.push_back("workspace_path");
    return r;
  }
  auto ws = roots.resolve(workspace_path);
  if (!ws) {
    CheckResult r;
    r.checked.push_back("refused: the workspace " + ws.error().message);
    r.refused.push_back(workspace_path + " (outside the allowed workspace roots)");
    return r;
  }
  return check(*ws, spec, run_started);
}

CheckResult check(const Workspace& ws, const AcceptanceSpec& spec, std::int64_t run_started) {
  CheckResult r;
  auto ws_fd = open_workspace(ws);
  if (!ws_fd) {
    if (ws_fd.error().code == core::ErrorCode::NotFound) {
      r.checked.push_back("missing: the workspace " + ws.path());
      r.missing.push_back(ws.path());
    } else {
      r.checked.push_back("refused: the workspace " + ws.path() + ": " + ws_fd.error().message);
      r.refused.push_back(ws.path() + " (" + ws_fd.error().message + ")");
    }
    return r;
  }
  // Every regular file inside, never following a link. Files come and go while the
  // workspace is read (a worker's temporary files, medic's own report writes): one that
  // vanishes between listing and stat is skipped, and only the listing's own failure ends
  // the walk. It gives up, as "not run", past Walker::kMaxEntries.
  std::vector<Entry> files;
  Walker walker{ws.path(), files, r.refused, 0, {}};
  const int dup = ::openat(ws_fd->get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dup < 0)
    walker.error = std::strerror(errno);
  else
    walker.walk(dup, "", 0);
  if (!walker.error.empty() || walker.over()) {
    r.checked.push_back(
        "missing: the workspace could not be read (" +
        (!walker.error.empty() ? walker.error : "more than " + std::to_string(Walker::kMaxEntries) + " entries") + ")");
    r.missing.push_back(ws.path());
    return r;  // ran stays false: never complete on a partial listing
  }
  r.ran = true;
  auto safe_pattern = [&](const std::string& p) {
    if (p.empty() || p[0] == '/' || p.find("..") != std::string::npos) {
      r.refused.push_back(p + " (escapes the workspace)");
      return false;
    }
    return true;
  };

  // Evidence: any non-empty file matching one of the globs (a glob "dir/*" covers the
  // whole tree under dir).
  for (const std::string& g : spec.evidence_globs) {
    if (!safe_pattern(g)) continue;
    for (const Entry& f : files) {
      const bool tree =
          g.size() > 2 && g.compare(g.size() - 2, 2, "/*") == 0 && under(f.rel, g.substr(0, g.size() - 2).c_str());
      if (f.size > 0 && (tree || fnmatch(g.c_str(), f.rel.c_str(), FNM_PATHNAME) == 0)) {
        r.evidence = true;
        r.checked.push_back("ok: evidence " + f.rel + " (" + std::to_string(f.size) + " bytes)");
        break;
      }
    }
    if (r.evidence) break;
  }
  if (!r.evidence) {
    std::string want;
    for (const auto& g : spec.evidence_globs) want += (want.empty() ? "" : " or ") + g;
    r.checked.push_back("missing: evidence (" + want + ")");
    r.missing.push_back(spec.evidence_globs.empty() ? "evidence" : spec.evidence_globs.front());
  }

  // Outputs: each spec needs one file that matches, is big enough and names every subject.
  r.outputs = true;
  for (const OutputSpec& o : spec.outputs) {
    if (!safe_pattern(o.glob)) {
      r.outputs = false;
      continue;
    }
    const bool basename_only = o.glob.find('/') == std::string::npos;
    const Entry* found = nullptr;
    std::string why = "no file";
    for (const Entry& f : files) {
      if (basename_only && (under(f.rel, "raw") || under(f.rel, "evidence") || under(f.rel, "state"))) continue;
      const std::string name = basename_only ? fs::path(f.rel).filename().string() : f.rel;
      if (fnmatch(o.glob.c_str(), name.c_str(), basename_only ? 0 : FNM_PATHNAME) != 0) continue;
      if (f.size < o.min_bytes) {
        why = f.rel + " is " + std::to_string(f.size) + " bytes";
        continue;
      }
      bool all = true;
      if (!o.contains.empty()) {
        const std::string body = lower(read_beneath(ws_fd->get(), f.rel).value_or(std::string()));
        for (const auto& subject : o.contains) {
          if (body.find(lower(subject)) == std::string::npos) {
            all = false;
            why = f.rel + " lacks \"" + subject + "\"";
            break;
          }
        }
      }
      if (all) {
        found = &f;
        break;
      }
    }
    if (found) {
      r.checked.push_back("ok: output " + found->rel + " (" + std::to_string(found->size) + " bytes)");
    } else {
      r.outputs = false;
      r.checked.push_back("missing: output " + o.glob + " (" + why + ")");
      r.missing.push_back(o.glob);
    }
  }

  // State files: present and modified after the run started.
  r.state = true;
  for (const std::string& s : spec.state_files) {
    if (!safe_pattern(s)) {
      r.state = false;
      continue;
    }
    // medic writes its own section into these files; only a change outside it counts.
    const fs::path p(s);
    auto dir = core::open_beneath(ws_fd->get(), p.parent_path().string(), O_RDONLY | O_DIRECTORY);
    const std::optional<std::int64_t> changed =
        dir ? report::outside_changed_at(dir->get(), p.filename().string()) : std::nullopt;
    if (!changed) {
      r.state = false;
      r.checked.push_back("missing: " + s);
      r.missing.push_back(s);
    } else if (*changed <= 0 || *changed < run_started) {
      r.state = false;
      r.checked.push_back("missing: " + s + " was not updated during the run");
      r.missing.push_back(s);
    } else {
      r.checked.push_back("ok: " + s + " updated during the run");
    }
  }
  return r;
}

core::Result<std::optional<report::Location>> report_location(const WorkspaceRoots& roots,
                                                              const std::string& workspace_path) {
  auto ws = roots.resolve(workspace_path);
  if (!ws) return tl::unexpected(ws.error());
  auto fd = open_workspace(*ws);
  if (!fd) {
    if (fd.error().code == core::ErrorCode::NotFound) return std::optional<report::Location>{};
    return tl::unexpected(fd.error());
  }
  struct stat st {};
  if (::fstatat(fd->get(), "state", &st, AT_SYMLINK_NOFOLLOW) == 0) {
    if (!S_ISDIR(st.st_mode))
      return core::fail(core::ErrorCode::InvalidArgument, "state/ is not a directory (links are not followed)");
    for (const char* name : {"state/PROJECT_STATE.md", "state/PROJECT_STATE.html"}) {
      if (::fstatat(fd->get(), name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
        return core::fail(core::ErrorCode::InvalidArgument,
                          std::string(name) + " is not a regular file (links are not followed)");
    }
  }
  return std::optional<report::Location>(report::Location{ws->root, ws->rel, "state/PROJECT_STATE.md"});
}

}  // namespace medic::artifacts
