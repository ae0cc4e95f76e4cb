#include "app/scan_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>

#include "app/rule_loading.h"
#include "core/json_writer.h"
#include "match/matcher.h"
#include "match/rule_tester.h"
#include "match/stream.h"

namespace medic::app {
namespace {

constexpr std::size_t kFlushBytes = 1 << 16;

void write_out(std::string& buf, bool force = false) {
  if (buf.size() >= kFlushBytes || (force && !buf.empty())) {
    std::fwrite(buf.data(), 1, buf.size(), stdout);
    buf.clear();
  }
}

struct Totals {
  std::uint64_t bytes = 0;
  std::uint64_t hits = 0;
  std::map<std::string, std::uint64_t> by_class;
  std::map<std::uint32_t, std::uint64_t> by_rule;
};

// Scans one source; returns false (with a message on stderr) when it cannot be read.
bool scan_fd(int fd, const std::string& path, const cli::ScanOptions& options,
             const match::PatternDb& db, match::Matcher& matcher, Totals& totals,
             std::string& out) {
  match::StreamOptions stream_options;
  // Line numbers are part of every printed hit; a pure summary needs none.
  stream_options.count_lines = !options.summary || options.json;
  auto stream = match::Stream::open(db, stream_options);
  if (!stream) {
    std::fprintf(stderr, "medic: %s: %s\n", path.c_str(), stream.error().message.c_str());
    return false;
  }
  std::vector<char> buf(options.chunk_bytes);
  std::vector<match::Hit> hits;
  const bool print_hits = options.json || !options.summary;
  auto consume = [&] {
    for (const match::Hit& h : hits) {
      ++totals.hits;
      const rules::Rule& r = db.rule(h.rule);
      ++totals.by_class[r.failure_class ? std::string(rules::to_string(*r.failure_class))
                                        : std::string("(context)")];
      ++totals.by_rule[h.rule];
      if (print_hits) {
        if (options.json) {
          append_hit_json(out, path, db, h);
        } else {
          append_hit_text(out, path, db, h);
        }
        out += '\n';
        write_out(out);
      }
    }
    hits.clear();
  };
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "medic: %s: read failed: %s\n", path.c_str(), std::strerror(errno));
      return false;
    }
    if (n == 0) break;
    totals.bytes += static_cast<std::uint64_t>(n);
    stream->feed(std::string_view(buf.data(), static_cast<std::size_t>(n)), matcher, hits);
    consume();
  }
  stream->finish(matcher, hits);
  consume();
  return true;
}

void print_summary(std::FILE* f, const Totals& t, const match::PatternDb& db, double seconds) {
  std::fprintf(f, "scanned %llu bytes in %.3f s (%.1f MB/s), %llu hits\n",
               static_cast<unsigned long long>(t.bytes), seconds,
               seconds > 0 ? static_cast<double>(t.bytes) / seconds / 1e6 : 0.0,
               static_cast<unsigned long long>(t.hits));
  std::fprintf(f, "\n%-20s %10s\n", "class", "hits");
  for (const auto& [cls, n] : t.by_class) {
    std::fprintf(f, "%-20s %10llu\n", cls.c_str(), static_cast<unsigned long long>(n));
  }
  std::fprintf(f, "\n%-36s %-20s %10s\n", "rule", "class", "hits");
  for (const auto& [idx, n] : t.by_rule) {
    const rules::Rule& r = db.rule(idx);
    std::fprintf(f, "%-36s %-20s %10llu\n", r.id.c_str(),
                 r.failure_class ? std::string(rules::to_string(*r.failure_class)).c_str() : "(context)",
                 static_cast<unsigned long long>(n));
  }
}

}  // namespace

void append_hit_json(std::string& out, std::string_view path, const match::PatternDb& db,
                     const match::Hit& hit) {
  const rules::Rule& r = db.rule(hit.rule);
  core::JsonWriter w(out);
  w.begin_object();
  w.key("path").value(path);
  w.key("line").value(static_cast<std::int64_t>(hit.line));
  w.key("offset").value(static_cast<std::int64_t>(hit.offset));
  w.key("rule").value(r.id);
  w.key("class");
  if (r.failure_class) {
    w.value(rules::to_string(*r.failure_class));
  } else {
    w.null();
  }
  w.key("priority").value(r.priority);
  w.key("fields").begin_object();
  for (const match::Field& f : hit.fields) {
    w.key(f.name);
    std::visit([&](const auto& v) { w.value(v); }, f.value);
  }
  w.end_object();
  w.key("text").value(hit.text);
  w.end_object();
}

void append_hit_text(std::string& out, std::string_view path, const match::PatternDb& db,
                     const match::Hit& hit) {
  const rules::Rule& r = db.rule(hit.rule);
  out += path;
  out += ':';
  out += std::to_string(hit.line);
  out += ": ";
  out += r.failure_class ? rules::to_string(*r.failure_class) : std::string_view("context");
  out += ' ';
  out += r.id;
  out += " (";
  out += std::to_string(r.priority);
  out += ')';
  for (const match::Field& f : hit.fields) {
    out += ' ';
    out += f.name;
    out += '=';
    out += match::field_text(f.value);
  }
  out += " | ";
  // Control bytes would garble a terminal; show them escaped.
  for (char c : hit.text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7F) {
      char esc[8];
      std::snprintf(esc, sizeof esc, "\\x%02x", u);
      out += esc;
    } else {
      out += c;
    }
  }
}

int run_scan(const cli::ScanOptions& options) {
  LoadedRules loaded = load_rules(options.rules_dir);
  if (!loaded.db) {
    for (const auto& d : loaded.diagnostics) std::fprintf(stderr, "%s\n", rules::format(d).c_str());
    std::fprintf(stderr, "medic: %s: invalid rules\n", loaded.origin.c_str());
    return 2;
  }
  auto matcher = match::Matcher::create(*loaded.db);
  if (!matcher) {
    std::fprintf(stderr, "medic: %s\n", matcher.error().message.c_str());
    return 2;
  }
  static char stdout_buf[1 << 16];
  std::setvbuf(stdout, stdout_buf, _IOFBF, sizeof stdout_buf);

  Totals totals;
  std::string out;
  bool all_read = true;
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& path : options.paths) {
    int fd = 0;
    if (path != "-") {
      fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        std::fprintf(stderr, "medic: %s: cannot open: %s\n", path.c_str(), std::strerror(errno));
        all_read = false;
        continue;
      }
      posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    if (!scan_fd(fd, path, options, *loaded.db, *matcher, totals, out)) all_read = false;
    if (fd != 0) ::close(fd);
  }
  write_out(out, true);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.summary) {
    std::fflush(stdout);
    print_summary(options.json ? stderr : stdout, totals, *loaded.db, seconds);
  }
  std::fflush(stdout);
  return all_read ? 0 : 2;
}

}  // namespace medic::app
