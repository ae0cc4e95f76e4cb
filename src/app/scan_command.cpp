#include "app/scan_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <map>
#include <optional>
#include <thread>

#include "app/rule_loading.h"
#include "core/json_writer.h"
#include "match/matcher.h"
#include "match/rule_tester.h"
#include "match/context_tracker.h"
#include "match/stream.h"

namespace medic::app {
namespace {

constexpr std::size_t kFlushBytes = 1 << 16;
// Below this a file is scanned by one thread: splitting costs more than it saves.
constexpr std::uint64_t kParallelMinBytes = 16u << 20;

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

// Counts and prints hits in source order.
class HitSink {
 public:
  HitSink(const cli::ScanOptions& options, const match::PatternDb& db, Totals& totals, std::string& out)
      : options_(options), db_(db), totals_(totals), out_(out) {}

  void consume(const std::string& path, std::vector<match::Hit>& hits) {
    const bool print_hits = options_.json || !options_.summary;
    for (const match::Hit& h : hits) {
      ++totals_.hits;
      const rules::Rule& r = db_.rule(h.rule);
      ++totals_.by_class[r.failure_class ? std::string(rules::to_string(*r.failure_class)) : std::string("(context)")];
      ++totals_.by_rule[h.rule];
      if (!print_hits) continue;
      if (options_.json) {
        append_hit_json(out_, path, db_, h);
      } else {
        append_hit_text(out_, path, db_, h);
      }
      out_ += '\n';
      write_out(out_);
    }
    hits.clear();
  }

 private:
  const cli::ScanOptions& options_;
  const match::PatternDb& db_;
  Totals& totals_;
  std::string& out_;
};

match::StreamOptions stream_options_for(const cli::ScanOptions& options) {
  match::StreamOptions o;
  // Line numbers are part of every printed hit; a pure summary needs none.
  o.count_lines = !options.summary || options.json;
  return o;
}

// A regular file's bytes: read with pread() into per-thread buffers (the default), or
// mapped with --mmap. On this project's hosts (virtual machines) a read() copy of the page
// cache (~10 GB/s) costs far less than mapping it: a 200 MiB file mapped and scanned once
// took 257 ms, of which ~95 ms went to page faults (the first touch of each page maps
// it); read in 256 KiB pieces it took 182 ms. Where faults are cheap, mapping saves the
// copy (rg offers the same choice). Reading is also the safe default: a file truncated
// while it is scanned just ends early, where a mapping raises SIGBUS.
class FileSource {
 public:
  FileSource(int fd, std::uint64_t size) : fd_(fd), size_(size) {}
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;
  ~FileSource() {
    if (map_) ::munmap(const_cast<char*>(map_), size_);
  }

  // Maps the file; on failure the source keeps reading.
  bool map(std::string& error) {
    void* m = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
    if (m == MAP_FAILED) {
      error = std::string("mmap failed: ") + std::strerror(errno);
      return false;
    }
    ::madvise(m, size_, MADV_SEQUENTIAL);
    map_ = static_cast<const char*>(m);
    return true;
  }

  // Up to buf.size() bytes at `pos`: a view of the mapping or of `buf`, empty at the end
  // (or when the file shrank), nullopt on a read error.
  std::optional<std::string_view> at(std::uint64_t pos, std::uint64_t end, std::vector<char>& buf,
                                     std::string& error) const {
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - pos));
    if (map_) return std::string_view(map_ + pos, want);
    for (;;) {
      const ssize_t n = ::pread(fd_, buf.data(), want, static_cast<off_t>(pos));
      if (n >= 0) return std::string_view(buf.data(), static_cast<std::size_t>(n));
      if (errno == EINTR) continue;
      error = std::string("read failed: ") + std::strerror(errno);
      return std::nullopt;
    }
  }

  // Start of the line after the newline at or after `pos`, or the file's size when none
  // follows. Reads forward piece by piece: a line can be long. A read error ends the
  // segment at the file's end: the segment's own scan then meets the error and reports it.
  std::uint64_t next_line_start(std::uint64_t pos, std::vector<char>& buf) const {
    std::string error;
    while (pos < size_) {
      const auto piece = at(pos, size_, buf, error);
      if (!piece || piece->empty()) return size_;
      if (const void* nl = std::memchr(piece->data(), '\n', piece->size())) {
        return pos + static_cast<std::uint64_t>(static_cast<const char*>(nl) - piece->data()) + 1;
      }
      pos += piece->size();
    }
    return size_;
  }

 private:
  int fd_;
  std::uint64_t size_;
  const char* map_ = nullptr;
};

// Feeds [begin, end) of `source` to `stream`.
bool scan_range(const FileSource& source, std::uint64_t begin, std::uint64_t end, std::vector<char>& buf,
                match::Stream& stream, match::Matcher& matcher, std::vector<match::Hit>& hits, std::string& error) {
  for (std::uint64_t pos = begin; pos < end;) {
    const auto piece = source.at(pos, end, buf, error);
    if (!piece) return false;
    if (piece->empty()) break;  // the file shrank while it was scanned
    stream.feed(*piece, matcher, hits);
    pos += piece->size();
  }
  stream.finish(matcher, hits);
  return true;
}

// A pipe or stdin: one stream, read() until EOF.
bool scan_sequential(int fd, const std::string& path, const cli::ScanOptions& options, const match::PatternDb& db,
                     match::Matcher& matcher, HitSink& sink, Totals& totals) {
  auto stream = match::Stream::open(db, stream_options_for(options));
  if (!stream) {
    std::fprintf(stderr, "medic: %s: %s\n", path.c_str(), stream.error().message.c_str());
    return false;
  }
  std::vector<char> buf(options.chunk_bytes);
  std::vector<match::Hit> hits;
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
    sink.consume(path, hits);
  }
  stream->finish(matcher, hits);
  sink.consume(path, hits);
  return true;
}

// A regular file, scanned by several threads. Hits belong to lines, so segments cut at
// line starts scan to exactly the hits of one stream; each thread has its own Matcher
// (scratch) and read buffer. Segments go in batches of one per thread, and each batch's
// hits are merged in source order (line numbers shifted, context fields carried across
// segments) before the next, so memory stays bounded by one batch.
bool scan_file(int fd, std::uint64_t size, const std::string& path, const cli::ScanOptions& options,
               const match::PatternDb& db, std::vector<match::Matcher>& matchers, HitSink& sink, Totals& totals) {
  if (size == 0) return true;
  FileSource source(fd, size);
  if (std::string error; options.mmap && !source.map(error)) {
    std::fprintf(stderr, "medic: %s: %s; reading it instead\n", path.c_str(), error.c_str());
  }
  const std::size_t threads = matchers.size();
  std::vector<std::vector<char>> buffers(threads, std::vector<char>(options.chunk_bytes));
  // Small files, or one thread: a single segment, one stream.
  const std::uint64_t segment_bytes = threads > 1 && size >= kParallelMinBytes ? (32u << 20) : size;
  std::vector<std::uint64_t> cuts{0};
  while (cuts.back() < size) {
    const std::uint64_t nominal = std::min(size, cuts.back() + segment_bytes);
    cuts.push_back(nominal == size ? size : source.next_line_start(nominal - 1, buffers[0]));
  }
  match::StreamOptions stream_options = stream_options_for(options);
  stream_options.apply_context = false;
  match::ContextTracker context;
  std::uint64_t lines_before = 0;
  std::uint64_t scanned = 0;
  for (std::size_t first = 0; first + 1 < cuts.size(); first += threads) {
    const std::size_t count = std::min(threads, cuts.size() - 1 - first);
    std::vector<std::vector<match::Hit>> hits(count);
    std::vector<std::string> errors(count);
    std::vector<std::uint64_t> newlines(count, 0);
    auto scan_segment = [&](std::size_t k) {
      auto stream = match::Stream::open(db, stream_options);
      if (!stream || !stream->restart(db, cuts[first + k], 1)) {
        errors[k] = "cannot open a Hyperscan stream";
        return;
      }
      if (scan_range(source, cuts[first + k], cuts[first + k + 1], buffers[k], *stream, matchers[k], hits[k],
                     errors[k])) {
        newlines[k] = stream->next_line() - 1;
      }
    };
    if (count == 1) {
      scan_segment(0);  // no thread for a lone segment
    } else {
      std::vector<std::thread> workers;
      for (std::size_t k = 0; k < count; ++k) workers.emplace_back(scan_segment, k);
      for (auto& w : workers) w.join();
    }
    for (std::size_t k = 0; k < count; ++k) {
      if (!errors[k].empty()) {
        std::fprintf(stderr, "medic: %s: %s\n", path.c_str(), errors[k].c_str());
        return false;
      }
      for (match::Hit& h : hits[k]) {
        if (h.line != 0) h.line += lines_before;
        context.apply(db, h);
      }
      lines_before += newlines[k];
      sink.consume(path, hits[k]);
    }
    scanned = cuts[first + count];
  }
  totals.bytes += scanned;
  return true;
}

void print_summary(std::FILE* f, const Totals& t, const match::PatternDb& db, double seconds) {
  std::fprintf(f, "scanned %llu bytes in %.3f s (%.1f MB/s), %llu hits\n", static_cast<unsigned long long>(t.bytes),
               seconds, seconds > 0 ? static_cast<double>(t.bytes) / seconds / 1e6 : 0.0,
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

void append_hit_json(std::string& out, std::string_view path, const match::PatternDb& db, const match::Hit& hit) {
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

void append_hit_text(std::string& out, std::string_view path, const match::PatternDb& db, const match::Hit& hit) {
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
  const std::size_t threads =
      options.threads > 0 ? options.threads : std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, 8);
  std::vector<match::Matcher> matchers;
  for (std::size_t t = 0; t < threads; ++t) {
    auto matcher = match::Matcher::create(*loaded.db);
    if (!matcher) {
      std::fprintf(stderr, "medic: %s\n", matcher.error().message.c_str());
      return 2;
    }
    matchers.push_back(std::move(*matcher));
  }
  static char stdout_buf[1 << 16];
  std::setvbuf(stdout, stdout_buf, _IOFBF, sizeof stdout_buf);

  Totals totals;
  std::string out;
  HitSink sink(options, *loaded.db, totals, out);
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
    struct stat st {};
    const bool regular = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    bool ok = false;
    if (regular) {
      ok = scan_file(fd, static_cast<std::uint64_t>(st.st_size), path, options, *loaded.db, matchers, sink, totals);
    } else {
      ok = scan_sequential(fd, path, options, *loaded.db, matchers[0], sink, totals);
    }
    all_read = all_read && ok;
    if (fd != 0) ::close(fd);
  }
  write_out(out, true);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (options.summary) {
    std::fflush(stdout);
    print_summary(options.json ? stderr : stdout, totals, *loaded.db, seconds);
  }
  std::fflush(stdout);
  return all_read ? 0 : 2;
}

}  // namespace medic::app
