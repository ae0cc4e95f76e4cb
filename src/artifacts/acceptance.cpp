#include "artifacts/acceptance.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <fnmatch.h>
#include <pcre2.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

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

bool escapes(const fs::path& root, const fs::path& p) {
  std::error_code ec;
  const fs::path real = fs::weakly_canonical(p, ec);
  if (ec) return true;
  const std::string r = root.string() + "/";
  return real.string().compare(0, r.size(), r) != 0 && real != root;
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

CheckResult check(const std::string& workspace, const AcceptanceSpec& spec, std::int64_t run_started) {
  CheckResult r;
  std::error_code ec;
  if (workspace.empty() || !fs::is_directory(workspace, ec)) {
    r.checked.push_back("missing: the workspace " + (workspace.empty() ? std::string("(none set)") : workspace));
    r.missing.push_back(workspace.empty() ? std::string("workspace_path") : workspace);
    return r;
  }
  const fs::path root = fs::weakly_canonical(workspace, ec);
  // Every regular file inside, never following a link out of the workspace.
  std::vector<Entry> files;
  // Files come and go while the workspace is read (a worker's temporary files, medic's
  // own report writes): one that vanishes between listing and stat is skipped, and only
  // the listing's own failure ends the walk. The walk runs on the daemon's loop thread, so
  // it skips what holds no deliverable (hidden directories such as .git, node_modules) and
  // gives up, as "not run", past kMaxEntries.
  constexpr std::size_t kMaxEntries = 100000;
  std::size_t entries = 0;
  auto it = fs::recursive_directory_iterator(root, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (++entries > kMaxEntries) break;
    const std::string name = it->path().filename().string();
    std::error_code entry_ec;
    if ((name[0] == '.' || name == "node_modules") && it->is_directory(entry_ec)) {
      it.disable_recursion_pending();
      continue;
    }
    const fs::path rel = it->path().lexically_relative(root);
    if (it->is_symlink(entry_ec) && escapes(root, it->path())) {
      r.refused.push_back(rel.string() + " (a link out of the workspace)");
      continue;
    }
    if (!it->is_regular_file(entry_ec) || entry_ec) continue;
    const auto size = it->file_size(entry_ec);
    if (entry_ec) continue;
    files.push_back(Entry{rel.generic_string(), static_cast<std::uint64_t>(size)});
  }
  if (ec || entries > kMaxEntries) {
    r.checked.push_back("missing: the workspace could not be read (" +
                        (ec ? ec.message() : "more than " + std::to_string(kMaxEntries) + " entries") + ")");
    r.missing.push_back(workspace);
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
        std::ifstream in(root / f.rel, std::ios::binary);
        std::stringstream text;
        text << in.rdbuf();
        const std::string body = lower(text.str());
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
    struct stat st {};
    const fs::path p = root / s;
    // medic writes its own section into these files; only a change outside it counts.
    const std::optional<std::int64_t> changed =
        ::stat(p.c_str(), &st) == 0 ? report::outside_changed_at(p) : std::nullopt;
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

}  // namespace medic::artifacts
