#include "app/rule_loading.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"

namespace medic::app {

// Generated from rules/*.yaml by cmake/embed_files.cmake.
const std::vector<std::pair<std::string_view, std::string_view>>& embedded_rule_files();

namespace fs = std::filesystem;

std::optional<std::string> default_rules_dir() {
  if (const char* env = std::getenv("MEDIC_RULES_DIR"); env && *env) return std::string(env);
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const fs::path installed = exe.parent_path().parent_path() / "share" / "medic" / "rules";
    if (fs::is_directory(installed, ec)) return installed.string();
  }
  return std::nullopt;
}

std::vector<rules::RuleSource> read_rule_dir(const std::string& dir, rules::Diagnostics& diags) {
  std::vector<rules::RuleSource> sources;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    diags.push_back(rules::make_diagnostic(rules::SourceLocation{dir, 0, 0}, rules::DiagnosticCode::Io,
                                           "not a readable rules directory"));
    return sources;
  }
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(dir, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    const auto ext = it->path().extension();
    if (it->is_regular_file(ec) && (ext == ".yaml" || ext == ".yml")) files.push_back(it->path());
  }
  if (ec) {
    diags.push_back(rules::make_diagnostic(rules::SourceLocation{dir, 0, 0}, rules::DiagnosticCode::Io,
                                           "cannot list directory: " + ec.message()));
    return sources;
  }
  std::sort(files.begin(), files.end());
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in && !in.eof()) {
      diags.push_back(rules::make_diagnostic(rules::SourceLocation{f.string(), 0, 0}, rules::DiagnosticCode::Io,
                                             "cannot read file"));
      continue;
    }
    sources.push_back(rules::RuleSource{f.string(), text.str()});
  }
  if (files.empty()) {
    diags.push_back(rules::make_diagnostic(rules::SourceLocation{dir, 0, 0}, rules::DiagnosticCode::Io,
                                           "no *.yaml rule files in directory"));
  }
  return sources;
}

std::vector<rules::RuleSource> builtin_rule_sources() {
  std::vector<rules::RuleSource> sources;
  for (const auto& [name, text] : embedded_rule_files()) {
    sources.push_back(rules::RuleSource{"<built-in>/" + std::string(name), std::string(text)});
  }
  return sources;
}

namespace {

// Compiled databases are cached like Suricata's util-mpm-hs-cache: one file per rule-set
// fingerprint under $MEDIC_CACHE_DIR, else $XDG_CACHE_HOME/medic, else ~/.cache/medic.
// MEDIC_CACHE_DIR set to an empty string turns the cache off. Every failure here only
// means compiling again, so none is reported.
std::optional<fs::path> cache_dir() {
  if (const char* d = std::getenv("MEDIC_CACHE_DIR")) {
    if (!*d) return std::nullopt;
    return fs::path(d);
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return fs::path(x) / "medic";
  if (const char* h = std::getenv("HOME"); h && *h) return fs::path(h) / ".cache" / "medic";
  return std::nullopt;
}

fs::path cache_file(const fs::path& dir, std::uint64_t fingerprint) {
  char name[40];
  std::snprintf(name, sizeof name, "rules-%016llx.hsdb", static_cast<unsigned long long>(fingerprint));
  return dir / name;
}

std::string read_cache(const rules::RuleSet& set) {
  const auto dir = cache_dir();
  if (!dir) return {};
  std::ifstream in(cache_file(*dir, match::PatternDb::fingerprint(set)), std::ios::binary);
  if (!in) return {};
  std::ostringstream bytes;
  bytes << in.rdbuf();
  return bytes.str();
}

void write_cache(const match::PatternDb& db) {
  const auto dir = cache_dir();
  if (!dir) return;
  const std::string bytes = db.serialized();
  if (bytes.empty()) return;
  std::error_code ec;
  fs::create_directories(*dir, ec);
  if (ec) return;
  // Whole or not at all: a concurrent reader never sees half a database (a failed write
  // costs a compile next time, nothing else).
  (void)core::write_file_atomically(cache_file(*dir, match::PatternDb::fingerprint(db.rules())).string(), bytes, 0644);
}

}  // namespace

LoadedRules load_rules(const std::optional<std::string>& dir, std::vector<rules::Rule> extra) {
  LoadedRules loaded;
  std::optional<std::string> chosen = dir ? dir : default_rules_dir();
  std::vector<rules::RuleSource> sources;
  if (chosen) {
    loaded.origin = *chosen;
    sources = read_rule_dir(*chosen, loaded.diagnostics);
  } else {
    loaded.origin = "built-in rules";
    sources = builtin_rule_sources();
  }
  rules::ReadResult read = rules::read_rules(sources);
  loaded.diagnostics.insert(loaded.diagnostics.end(), read.diagnostics.begin(), read.diagnostics.end());
  for (rules::Rule& r : extra) read.rules.rules.push_back(std::move(r));
  // Compile what was read even when some rules were bad, so every pattern error is
  // reported in the same run; the set is only usable when nothing was wrong.
  // The cache is only consulted for a rule set that read cleanly, so a bad set is always
  // fully validated and every one of its problems is reported.
  const std::string cached = loaded.diagnostics.empty() ? read_cache(read.rules) : std::string();
  auto compiled = match::PatternDb::compile(std::move(read.rules), cached);
  loaded.diagnostics.insert(loaded.diagnostics.end(), compiled.diagnostics.begin(), compiled.diagnostics.end());
  if (loaded.diagnostics.empty()) {
    loaded.db = std::move(compiled.db);
    if (!loaded.db->from_cache()) write_cache(*loaded.db);
  }
  return loaded;
}

}  // namespace medic::app
