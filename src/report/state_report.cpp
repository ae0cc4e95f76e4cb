#include "report/state_report.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/beneath.h"
#include "core/hash.h"
#include "core/json_fields.h"
#include "core/json_writer.h"
#include "core/text.h"
#include "core/unique_fd.h"

namespace medic::report {
namespace {

namespace fs = std::filesystem;
using core::ErrorCode;
using core::json::number_or;
using core::json::str;

constexpr std::string_view kBegin = "<!-- medic:begin (written by medic; edits inside are replaced) -->";
constexpr std::string_view kBeginPrefix = "<!-- medic:begin";
constexpr std::string_view kEnd = "<!-- medic:end -->";
constexpr std::string_view kDataPrefix = "<!-- medic:data ";
constexpr std::string_view kCommentEnd = " -->";

bool is_html(const std::string& path) {
  const auto ext = fs::path(path).extension().string();
  return ext == ".html" || ext == ".htm";
}

std::string errno_text() { return std::strerror(errno); }

// Where medic's section is: [begin, end) covers both markers.
struct Span {
  std::size_t begin = 0;
  std::size_t end = 0;
};

std::optional<Span> find_section(const std::string& text) {
  const std::size_t b = text.find(kBeginPrefix);
  if (b == std::string::npos) return std::nullopt;
  const std::size_t e = text.find(kEnd, b);
  if (e == std::string::npos) return std::nullopt;
  return Span{b, e + kEnd.size()};
}

std::string outside_of(const std::string& text, const std::optional<Span>& s) {
  if (!s) return text;
  return text.substr(0, s->begin) + text.substr(s->end);
}

std::string fingerprint(std::string_view bytes) {
  const std::uint64_t h = core::fnv1a(bytes);
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// Reads the regular file `name` in `dir_fd` without following a link or blocking on a
// FIFO; nullopt when it is not there, not a regular file, or unreadable. `st` gets its stat.
std::optional<std::string> read_at(int dir_fd, const std::string& name, struct stat* st_out = nullptr) {
  const int fd = ::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  core::UniqueFd f(fd);
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) return std::nullopt;
  if (st_out) *st_out = st;
  std::string out;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// The directory of a trusted path and its last component, for the path-based readers.
struct Opened {
  core::UniqueFd dir;
  std::string name;
};
std::optional<Opened> open_parent(const std::string& path) {
  const fs::path p(path);
  auto dir = core::open_trusted_dir(p.has_parent_path() ? p.parent_path().string() : std::string("."));
  if (!dir || !core::is_single_component(p.filename().string())) return std::nullopt;
  return Opened{std::move(*dir), p.filename().string()};
}

// What medic keeps inside its section, besides the rendered tables.
struct Data {
  std::string outside;  // fingerprint of the bytes outside the section at medic's last write
  std::int64_t outside_changed = 0;
  Section rows;
};

// Reads the data comment of a section; a damaged one yields empty data (medic owns the
// section, so the next write simply starts its tables afresh).
Data parse_data(std::string_view section) {
  Data d;
  const std::size_t p = section.find(kDataPrefix);
  if (p == std::string_view::npos) return d;
  const std::size_t start = p + kDataPrefix.size();
  const std::size_t stop = section.find(kCommentEnd, start);
  if (stop == std::string_view::npos) return d;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string json(section.substr(start, stop - start));
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) return d;
  if (!doc.is_object()) return d;
  const simdjson::dom::element root = doc;
  d.outside = str(root, "outside");
  d.outside_changed = number_or(root, "outside_changed");
  simdjson::dom::array list;
  if (root["decisions"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      if (!e.is_object()) continue;
      const simdjson::dom::element o = e;
      d.rows.decisions.push_back(DecisionRow{str(o, "id"), number_or(o, "time"), str(o, "board"), str(o, "task"),
                                             str(o, "class"), str(o, "action"), str(o, "reason"), str(o, "evidence"),
                                             str(o, "next_command")});
    }
  }
  if (root["commands"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      if (!e.is_object()) continue;
      const simdjson::dom::element o = e;
      d.rows.commands.push_back(CommandRow{str(o, "decision_id"), number_or(o, "time"), str(o, "task"),
                                           str(o, "command"), static_cast<int>(number_or(o, "exit_code")),
                                           str(o, "output")});
    }
  }
  if (root["health"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      if (!e.is_object()) continue;
      const simdjson::dom::element o = e;
      d.rows.health.push_back(ProviderRow{str(o, "provider"), number_or(o, "unhealthy_until"), str(o, "reason")});
    }
  }
  return d;
}

// JSON that can sit inside an HTML comment: "--" never appears (JSON has no "--" outside
// strings, and inside them a second '-' is written as \u002d, which parses back the same).
std::string comment_safe(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  for (char c : json) {
    if (c == '-' && !out.empty() && out.back() == '-')
      out += "\\u002d";
    else
      out += c;
  }
  return out;
}

std::string render_data(const Data& d) {
  std::string out;
  core::JsonWriter w(out);
  w.begin_object();
  w.key("outside").value(d.outside);
  w.key("outside_changed").value(d.outside_changed);
  w.key("decisions").begin_array();
  for (const auto& r : d.rows.decisions) {
    w.begin_object();
    w.key("id").value(r.id).key("time").value(r.time).key("board").value(r.board).key("task").value(r.task);
    w.key("class").value(r.failure_class).key("action").value(r.action).key("reason").value(r.reason);
    w.key("evidence").value(r.evidence).key("next_command").value(r.next_command);
    w.end_object();
  }
  w.end_array();
  w.key("commands").begin_array();
  for (const auto& r : d.rows.commands) {
    w.begin_object();
    w.key("decision_id").value(r.decision_id).key("time").value(r.time).key("task").value(r.task);
    w.key("command").value(r.command).key("exit_code").value(r.exit_code).key("output").value(r.output);
    w.end_object();
  }
  w.end_array();
  w.key("health").begin_array();
  for (const auto& h : d.rows.health) {
    w.begin_object();
    w.key("provider").value(h.provider).key("unhealthy_until").value(h.unhealthy_until).key("reason").value(h.reason);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  return comment_safe(out);
}

std::string html_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// A Markdown table cell: one line, no column breaks, no raw HTML.
std::string md_cell(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else if (c == '<')
      out += "&lt;";
    else
      out += c;
  }
  return out.empty() ? "-" : out;
}

std::string health_sentence(const std::vector<ProviderRow>& health, std::int64_t now, bool html) {
  if (health.empty()) return "no provider has been limited.";
  std::string out;
  for (const auto& h : health) {
    const bool limited = h.unhealthy_until > now;
    std::string item = (html ? html_escape(h.provider) : md_cell(h.provider)) +
                       (limited ? " unhealthy until " + core::utc_time(h.unhealthy_until) + " UTC"
                                : " healthy (limited until " + core::utc_time(h.unhealthy_until) + " UTC)");
    if (limited && !h.reason.empty()) item += " (" + (html ? html_escape(h.reason) : md_cell(h.reason)) + ")";
    out += (out.empty() ? "" : "; ") + item;
  }
  return out + ".";
}

std::string render_markdown(const Data& d, std::int64_t now) {
  std::string s;
  s += kBegin;
  s += "\n<!-- medic:data " + render_data(d) + " -->\n";
  s += "## Recovery actions (medic)\n\n";
  s += "Provider health at " + core::utc_time(now) + " UTC: " + health_sentence(d.rows.health, now, false) + "\n\n";
  s += "| Time (UTC) | Task | Class | Action | Reason | Evidence |\n|---|---|---|---|---|---|\n";
  for (const auto& r : d.rows.decisions) {
    s += "| " + core::utc_time(r.time) + " | " + md_cell(r.task) + " | " + md_cell(r.failure_class) + " | " +
         md_cell(r.action) + " | " + md_cell(r.reason) + " | " + md_cell(r.evidence) + " |\n";
  }
  if (!d.rows.commands.empty()) {
    s += "\n### Commands applied (medic act)\n\n";
    s += "| Time (UTC) | Task | Decision | Command | Exit |\n|---|---|---|---|---|\n";
    for (const auto& c : d.rows.commands) {
      s += "| " + core::utc_time(c.time) + " | " + md_cell(c.task) + " | " + md_cell(c.decision_id) + " | `" +
           md_cell(c.command) + "` | " + std::to_string(c.exit_code) + " |\n";
    }
  }
  s += kEnd;
  return s;
}

constexpr const char* kStyle =
    "<style>"
    ".medic{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330;margin:1.5rem 0}"
    ".medic h2{font-size:1.25rem;margin:0 0 .5rem}.medic h3{font-size:1.05rem;margin:1.25rem 0 .5rem}"
    ".medic table{border-collapse:collapse;width:100%;margin:.25rem 0 1rem}"
    ".medic th,.medic td{border:1px solid #d5dae3;padding:.35rem .5rem;text-align:left;vertical-align:top}"
    ".medic th{background:#eef1f6}.medic tbody tr:nth-child(even){background:#f8f9fb}"
    ".medic td.action{font-weight:600;white-space:nowrap}.medic td.time{white-space:nowrap}"
    ".medic code{font:12px ui-monospace,monospace;word-break:break-all}"
    ".medic .unhealthy{color:#a3261b;font-weight:600}.medic .healthy{color:#1c6b35}"
    ".medic .meta{color:#5b6475;font-size:.9em}"
    "</style>";

std::string render_html(const Data& d, std::int64_t now) {
  std::string s;
  s += kBegin;
  s += "\n<!-- medic:data " + render_data(d) + " -->\n";
  s += "<section class=\"medic\" id=\"medic\">";
  s += kStyle;
  s += "<h2>Recovery actions (medic)</h2>";
  s += "<p class=\"meta\">Updated " + core::utc_time(now) +
       " UTC. Newest last; the decision journal keeps every one.</p>";
  s += "<h3>Provider health</h3>";
  if (d.rows.health.empty()) {
    s += "<p class=\"meta\">No provider has been limited.</p>";
  } else {
    s += "<table class=\"medic-health\"><thead><tr><th>Provider</th><th>State</th><th>Until (UTC)</th>"
         "<th>Why</th></tr></thead><tbody>";
    for (const auto& h : d.rows.health) {
      const bool limited = h.unhealthy_until > now;
      s += "<tr><td>" + html_escape(h.provider) + "</td><td class=\"" +
           (limited ? "unhealthy\">unhealthy" : "healthy\">healthy") + "</td><td class=\"time\">" +
           core::utc_time(h.unhealthy_until) + "</td><td>" + html_escape(h.reason) + "</td></tr>";
    }
    s += "</tbody></table>";
  }
  s += "<h3>Decisions</h3>";
  s += "<table class=\"medic-actions\"><thead><tr><th>Time (UTC)</th><th>Task</th><th>Class</th><th>Action</th>"
       "<th>Reason</th><th>Evidence</th></tr></thead><tbody>";
  for (const auto& r : d.rows.decisions) {
    s += "<tr data-decision=\"" + html_escape(r.id) + "\"><td class=\"time\">" + core::utc_time(r.time) + "</td><td>" +
         html_escape(r.task) + "</td><td>" + html_escape(r.failure_class.empty() ? "-" : r.failure_class) +
         "</td><td class=\"action\">" + html_escape(r.action) + "</td><td>" + html_escape(r.reason);
    if (!r.next_command.empty()) s += "<br><code>" + html_escape(r.next_command) + "</code>";
    s += "</td><td><code>" + html_escape(r.evidence) + "</code></td></tr>";
  }
  s += "</tbody></table>";
  if (!d.rows.commands.empty()) {
    s += "<h3>Commands applied (medic act)</h3>";
    s += "<table class=\"medic-commands\"><thead><tr><th>Time (UTC)</th><th>Task</th><th>Decision</th>"
         "<th>Command</th><th>Exit</th><th>Output</th></tr></thead><tbody>";
    for (const auto& c : d.rows.commands) {
      s += "<tr><td class=\"time\">" + core::utc_time(c.time) + "</td><td>" + html_escape(c.task) + "</td><td>" +
           html_escape(c.decision_id) + "</td><td><code>" + html_escape(c.command) + "</code></td><td>" +
           std::to_string(c.exit_code) + "</td><td>" + html_escape(c.output) + "</td></tr>";
    }
    s += "</tbody></table>";
  }
  s += "</section>\n";
  s += kEnd;
  return s;
}

// A page for a file that does not exist yet: self-contained, no external assets.
std::string new_page(bool html) {
  if (!html) return "# Project state\n\n";
  return "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
         "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
         "<title>Project state</title>\n"
         "<style>body{max-width:72rem;margin:2rem auto;padding:0 1rem;"
         "font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;color:#1d2330}</style>\n"
         "</head>\n<body>\n<h1>Project state</h1>\n</body>\n</html>\n";
}

template <class T>
void keep_last(std::vector<T>& v) {
  if (v.size() > kMaxRows) v.erase(v.begin(), v.end() - static_cast<std::ptrdiff_t>(kMaxRows));
}

bool same_file(const struct stat& a, const struct stat& b) {
  return a.st_ino == b.st_ino && a.st_dev == b.st_dev && a.st_size == b.st_size &&
         a.st_mtim.tv_sec == b.st_mtim.tv_sec && a.st_mtim.tv_nsec == b.st_mtim.tv_nsec;
}

// Writes `bytes` to a new temporary file in `dir_fd` (mode, fsync); returns its name.
// O_EXCL | O_NOFOLLOW: a name a worker planted (a link, a FIFO) is never written through.
core::Result<std::string> write_temp(int dir_fd, const std::string& name, const std::string& display,
                                     const std::string& bytes, mode_t mode) {
  static thread_local std::uint64_t counter = 0;
  int fd = -1;
  std::string tmp;
  for (int i = 0; i < 16 && fd < 0; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof suffix, "%d-%llu-%ld", static_cast<int>(::getpid()),
                  static_cast<unsigned long long>(++counter), static_cast<long>(std::time(nullptr)));
    tmp = "." + name + ".medic-" + suffix;
    fd = ::openat(dir_fd, tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EEXIST) break;
  }
  if (fd < 0) return core::fail(ErrorCode::Io, display + ": cannot create a temporary file: " + errno_text());
  std::size_t done = 0;
  std::string why;
  while (why.empty() && done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0)
      why = "write: " + errno_text();
    else
      done += static_cast<std::size_t>(n);
  }
  if (why.empty() && ::fchmod(fd, mode) != 0) why = "chmod: " + errno_text();
  if (why.empty() && ::fsync(fd) != 0) why = "fsync: " + errno_text();
  ::close(fd);
  if (!why.empty()) {
    ::unlinkat(dir_fd, tmp.c_str(), 0);
    return core::fail(ErrorCode::Io, display + ": " + why);
  }
  return tmp;
}

// The whole file with `d` rendered into medic's section. Bytes outside the section are
// never touched: a first section goes at the end (before </body> in HTML), as it is.
std::string compose(const std::string& text, bool exists, bool html, Data& d, std::int64_t now) {
  const std::optional<Span> span = find_section(text);
  if (span) {
    return text.substr(0, span->begin) + (html ? render_html(d, now) : render_markdown(d, now)) +
           text.substr(span->end);
  }
  const std::string base = exists ? text : new_page(html);
  std::size_t at = base.size();
  if (html) {
    std::string lower = base;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (const std::size_t b = lower.rfind("</body>"); b != std::string::npos) at = b;
  }
  std::string after = base.substr(at);
  if (!exists && !html) after += "\n";  // medic's own new page ends its last line
  d.outside = fingerprint(base.substr(0, at) + after);
  return base.substr(0, at) + (html ? render_html(d, now) : render_markdown(d, now)) + after;
}

}  // namespace

void Update::merge(Update&& later) {
  for (auto& r : later.decisions) decisions.push_back(std::move(r));
  for (auto& r : later.commands) commands.push_back(std::move(r));
  if (later.health) health = std::move(later.health);
}

std::string Location::display() const {
  std::string out = anchor;
  if (!base.empty()) out += "/" + base;
  return out + "/" + file;
}

core::Result<void> append(const Location& where, const Update& u, std::int64_t now) {
  const std::string path = where.display();
  // The anchor is trusted (the state dir, an allowed workspace root); below it nothing is
  // followed: a workspace, or its state/, that is a link is refused, never written through.
  auto anchor = core::open_trusted_dir(where.anchor);
  if (!anchor) return core::fail(ErrorCode::Io, path + ": " + anchor.error().message);
  auto base = core::open_dir_beneath(anchor->get(), where.base, false);
  if (!base) return core::fail(ErrorCode::InvalidArgument, path + ": refused: " + base.error().message);
  const fs::path file(where.file);
  const std::string name = file.filename().string();
  if (!core::is_single_component(name)) return core::fail(ErrorCode::InvalidArgument, path + ": not a file name");
  auto dir = core::open_dir_beneath(base->get(), file.parent_path().string(), true);
  if (!dir) return core::fail(ErrorCode::InvalidArgument, path + ": refused: " + dir.error().message);
  // An exclusive flock on the directory for the read-modify-write; released on close.
  if (::flock(dir->get(), LOCK_EX) != 0) return core::fail(ErrorCode::Io, path + ": cannot lock: " + errno_text());
  const int dfd = dir->get();
  const bool html = is_html(name);

  // A worker writes without medic's lock: if the file changes between medic's read and
  // its rename, medic reads it again rather than replace the worker's bytes.
  for (int attempt = 0; attempt < 8; ++attempt) {
    struct stat st {};
    const bool exists = ::fstatat(dfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
    if (exists && !S_ISREG(st.st_mode))
      return core::fail(ErrorCode::InvalidArgument, path + ": refused: not a regular file (links are not followed)");
    std::string text;
    if (exists) {
      auto t = read_at(dfd, name);
      if (!t) return core::fail(ErrorCode::Io, path + ": cannot read: " + errno_text());
      text = std::move(*t);
    }
    const std::optional<Span> span = find_section(text);
    Data d = span ? parse_data(std::string_view(text).substr(span->begin, span->end - span->begin)) : Data{};
    // Who last changed the outside: medic's own writes never count as the worker's update.
    const std::string fp = fingerprint(outside_of(text, span));
    if (!exists)
      d.outside_changed = 0;
    else if (!span || fp != d.outside)
      d.outside_changed = static_cast<std::int64_t>(st.st_mtime);
    d.outside = fp;
    for (const auto& r : u.decisions) d.rows.decisions.push_back(r);
    for (const auto& r : u.commands) d.rows.commands.push_back(r);
    if (u.health) d.rows.health = *u.health;
    keep_last(d.rows.decisions);
    keep_last(d.rows.commands);

    const std::string out = compose(text, exists, html, d, now);
    auto tmp = write_temp(dfd, name, path, out, exists ? (st.st_mode & 0777) : 0644);
    if (!tmp) return tl::unexpected(tmp.error());
    struct stat again {};
    const bool still = ::fstatat(dfd, name.c_str(), &again, AT_SYMLINK_NOFOLLOW) == 0;
    if (still != exists || (exists && !same_file(st, again))) {
      ::unlinkat(dfd, tmp->c_str(), 0);
      continue;
    }
    if (::renameat(dfd, tmp->c_str(), dfd, name.c_str()) != 0) {
      const std::string why = errno_text();
      ::unlinkat(dfd, tmp->c_str(), 0);
      return core::fail(ErrorCode::Io, path + ": rename: " + why);
    }
    ::fsync(dfd);  // the rename itself is durable
    return {};
  }
  return core::fail(ErrorCode::Io, path + ": changed on every attempt to update it; left as it is");
}

std::optional<std::int64_t> outside_changed_at(int dir_fd, const std::string& name) {
  struct stat st {};
  auto text = read_at(dir_fd, name, &st);
  if (!text) return std::nullopt;
  const auto span = find_section(*text);
  if (!span) return static_cast<std::int64_t>(st.st_mtime);
  const Data d = parse_data(std::string_view(*text).substr(span->begin, span->end - span->begin));
  if (d.outside.empty() || fingerprint(outside_of(*text, span)) != d.outside)
    return static_cast<std::int64_t>(st.st_mtime);
  return d.outside_changed;
}

std::optional<std::int64_t> outside_changed_at(const std::string& path) {
  auto p = open_parent(path);
  if (!p) return std::nullopt;
  return outside_changed_at(p->dir.get(), p->name);
}

core::Result<Section> read_section(const std::string& path) {
  auto p = open_parent(path);
  std::optional<std::string> text = p ? read_at(p->dir.get(), p->name) : std::nullopt;
  if (!text) return core::fail(ErrorCode::Io, path + ": cannot read");
  const auto span = find_section(*text);
  if (!span) return Section{};
  return parse_data(std::string_view(*text).substr(span->begin, span->end - span->begin)).rows;
}

}  // namespace medic::report
