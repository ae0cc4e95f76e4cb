#include "publish/journal.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace medic::publish {
namespace {

std::string segment_name(std::uint64_t first_seq) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu.ndjson", static_cast<unsigned long long>(first_seq));
  return buf;
}

// The first `max` bytes of a file (its first line, for a legacy journal's first seq).
core::Result<std::string> read_head(const std::string& path, std::size_t max) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return core::fail(core::ErrorCode::Io, path + ": " + std::strerror(errno));
  core::UniqueFd f(fd);
  std::string out(max, '\0');
  std::size_t got = 0;
  while (got < max) {
    const ssize_t n = ::read(fd, out.data() + got, max - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::ErrorCode::Io, path + ": read: " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  out.resize(got);
  return out;
}

}  // namespace

Journal::~Journal() {
  if (!fd_) return;
  if (auto ok = sync(); !ok) spdlog::error("journal not synced at close: {}", ok.error().message);
}

std::uint64_t Journal::first_seq() const { return segments_.empty() ? next_seq_ : segments_.front().first_seq; }

SegmentScan scan_segment(std::string_view text, std::uint64_t first_seq, std::uint64_t index_every,
                         std::uint64_t first_line) {
  SegmentScan out;
  simdjson::dom::parser parser;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos) {
      out.why = "a torn last line (no newline)";
      break;
    }
    const std::string_view line(text.data() + pos, nl - pos);
    simdjson::dom::element doc;
    std::uint64_t seq = 0;
    if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS ||
        doc["seq"].get_uint64().get(seq) != simdjson::SUCCESS) {
      out.why = "line " + std::to_string(first_line + out.lines + 1) + " is not a journal message";
      break;
    }
    if (seq != first_seq + out.lines) {
      out.why = "line " + std::to_string(first_line + out.lines + 1) + " has seq " + std::to_string(seq) + ", not " +
                std::to_string(first_seq + out.lines);
      break;
    }
    if (index_every != 0 && out.lines % index_every == 0) out.index.push_back(pos);
    std::string_view type, id, action;
    if (doc["type"].get_string().get(type) == simdjson::SUCCESS && type == "decision" &&
        doc["id"].get_string().get(id) == simdjson::SUCCESS) {
      if (doc["action"].get_string().get(action) != simdjson::SUCCESS) action = {};
      out.decided.emplace_back(std::string(id), std::string(action));
      std::int64_t at = 0;
      if (doc["decided_at"].get_int64().get(at) == simdjson::SUCCESS)
        out.last_decided_at = std::max(out.last_decided_at, at);
    }
    ++out.lines;
    pos = nl + 1;
  }
  out.good_bytes = pos;
  return out;
}

// Reads a segment in chunks (a segment of any size costs about kScanChunk of memory):
// builds its index, hands its decided ids to `on_decided`, and cuts it at its first damaged
// line (torn, unparsable, or out of sequence), keeping the rest aside.
core::Result<void> Journal::scan(Segment& s, const OnDecided& on_decided) {
  constexpr std::size_t kScanChunk = 8u << 20;
  const int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return core::fail(core::ErrorCode::Io, s.path + ": " + std::strerror(errno));
  core::UniqueFd f(fd);
  s.lines = 0;
  s.index.clear();
  std::uint64_t good = 0;  // bytes of the segment scanned whole
  std::string buf, why;
  std::vector<char> chunk(kScanChunk);
  for (bool eof = false; !eof && why.empty();) {
    const ssize_t n = ::read(fd, chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return core::fail(core::ErrorCode::Io, s.path + ": read: " + std::strerror(errno));
    eof = n == 0;
    buf.append(chunk.data(), static_cast<std::size_t>(n));
    // Whole lines only, but for the end of the file (a torn last line is damage).
    const std::size_t last_nl = buf.rfind('\n');
    const std::size_t whole = eof ? buf.size() : (last_nl == std::string::npos ? 0 : last_nl + 1);
    if (whole == 0) continue;  // a line longer than a chunk: read on
    SegmentScan sc = scan_segment(std::string_view(buf.data(), whole), s.first_seq + s.lines, 1, s.lines);
    for (std::size_t i = 0; i < sc.index.size(); ++i) {
      if ((s.lines + i) % kIndexEvery == 0) s.index.push_back(good + sc.index[i]);
    }
    if (on_decided) {
      for (const auto& [id, action] : sc.decided) on_decided(id, action);
    }
    last_decided_at_ = std::max(last_decided_at_, sc.last_decided_at);
    s.lines += sc.lines;
    good += sc.good_bytes;
    buf.erase(0, sc.good_bytes);
    why = std::move(sc.why);
  }
  chunk = {};
  buf = {};
  s.bytes = good;
  struct stat st {};
  if (::fstat(fd, &st) != 0) return core::fail(core::ErrorCode::Io, s.path + ": stat: " + std::strerror(errno));
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (good < size) {
    // Keep the damaged bytes aside, then cut them: the journal goes on from its last good line.
    Recovered r;
    r.segment = s.path;
    r.bytes = size - good;
    r.why = why.empty() ? "a torn last line (no newline)" : why;
    r.kept_at = s.path + ".corrupt-" + std::to_string(std::time(nullptr));
    const int out = ::open(r.kept_at.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (out >= 0) {
      core::UniqueFd o(out);
      char copy[1 << 16];
      for (std::uint64_t at = good; at < size;) {
        const ssize_t got = ::pread(fd, copy, sizeof copy, static_cast<off_t>(at));
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0 || ::write(out, copy, static_cast<std::size_t>(got)) != got) {
          r.kept_at += " (incomplete)";
          break;
        }
        at += static_cast<std::uint64_t>(got);
      }
      ::fsync(out);
    } else {
      r.kept_at = "(not kept: " + std::string(std::strerror(errno)) + ")";
    }
    if (::truncate(s.path.c_str(), static_cast<off_t>(good)) != 0)
      return core::fail(core::ErrorCode::Io, s.path + ": cannot cut its damaged tail: " + std::strerror(errno));
    recovered_.push_back(std::move(r));
  }
  s.mtime = static_cast<std::int64_t>(st.st_mtime);
  return {};
}

core::Result<Journal> Journal::open(const std::string& dir, JournalOptions options, const std::string& legacy_file,
                                    const OnDecided& on_decided) {
  Journal j;
  j.dir_ = dir;
  j.options_ = options;
  if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST)
    return core::fail(core::ErrorCode::Io, dir + ": cannot create: " + std::strerror(errno));
  // A single-file journal of an older medic becomes the first segment (its first seq
  // is read from its first line; an unreadable one starts at 1).
  struct stat st {};
  if (!legacy_file.empty() && ::stat(legacy_file.c_str(), &st) == 0) {
    std::uint64_t first = 1;
    if (auto text = read_head(legacy_file, 1 << 20)) {
      simdjson::dom::parser p;
      simdjson::dom::element doc;
      const std::size_t nl = text->find('\n');
      if (nl != std::string::npos && p.parse(text->data(), nl).get(doc) == simdjson::SUCCESS &&
          doc["seq"].get_uint64().get(first) != simdjson::SUCCESS)
        first = 1;
    }
    const std::string to = dir + "/" + segment_name(first);
    if (::rename(legacy_file.c_str(), to.c_str()) != 0)
      return core::fail(core::ErrorCode::Io, legacy_file + ": cannot move into " + dir + ": " + std::strerror(errno));
  }
  DIR* d = ::opendir(dir.c_str());
  if (!d) return core::fail(core::ErrorCode::Io, dir + ": " + std::strerror(errno));
  std::vector<std::uint64_t> firsts;
  while (struct dirent* e = ::readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() == 27 && n.compare(20, 7, ".ndjson") == 0 && n.find_first_not_of("0123456789") == 20)
      firsts.push_back(std::strtoull(n.c_str(), nullptr, 10));
  }
  ::closedir(d);
  std::sort(firsts.begin(), firsts.end());
  for (std::size_t i = 0; i < firsts.size(); ++i) {
    Segment s;
    s.first_seq = firsts[i];
    s.path = dir + "/" + segment_name(firsts[i]);
    if (auto r = j.scan(s, on_decided); !r) return tl::unexpected(r.error());
    if (s.lines == 0 && i + 1 < firsts.size()) {
      ::unlink(s.path.c_str());  // an empty old segment (a crash right after it was started)
      continue;
    }
    if (!j.segments_.empty()) {
      const Segment& prev = j.segments_.back();
      if (s.first_seq < prev.first_seq + prev.lines) {
        return core::fail(core::ErrorCode::Parse, s.path + ": starts at seq " + std::to_string(s.first_seq) +
                                                      ", inside the previous segment; remove one of them");
      }
    }
    j.segments_.push_back(std::move(s));
  }
  if (j.segments_.empty()) {
    j.next_seq_ = 1;
    if (auto r = j.start_segment(1); !r) return tl::unexpected(r.error());
  } else {
    const Segment& last = j.segments_.back();
    j.next_seq_ = last.first_seq + last.lines;
    const int fd = ::open(last.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
    if (fd < 0) return core::fail(core::ErrorCode::Io, last.path + ": " + std::strerror(errno));
    j.fd_.reset(fd);
  }
  j.apply_retention();
  return j;
}

core::Result<void> Journal::start_segment(std::uint64_t first_seq) {
  Segment s;
  s.first_seq = first_seq;
  s.path = dir_ + "/" + segment_name(first_seq);
  // The finished segment is durable before the next starts, so a crash never leaves a gap
  // before a newer segment. When it cannot be, no segment starts: the append fails and the
  // outbox retries it.
  if (fd_ && ::fdatasync(fd_.get()) != 0)
    return core::fail(core::ErrorCode::Io, segments_.back().path + ": fdatasync: " + std::strerror(errno));
  const int fd = ::open(s.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return core::fail(core::ErrorCode::Io, s.path + ": " + std::strerror(errno));
  fd_.reset(fd);
  s.mtime = static_cast<std::int64_t>(std::time(nullptr));
  segments_.push_back(std::move(s));
  return {};
}

void Journal::apply_retention() {
  std::uint64_t total = 0;
  for (const auto& s : segments_) total += s.bytes;
  const std::int64_t oldest_kept = static_cast<std::int64_t>(std::time(nullptr)) - options_.retain_age_s;
  while (segments_.size() > 1 && (total > options_.retain_bytes || segments_.front().mtime < oldest_kept)) {
    total -= segments_.front().bytes;
    ::unlink(segments_.front().path.c_str());
    segments_.erase(segments_.begin());
    ++dropped_;
  }
}

core::Result<std::string> Journal::append(const std::function<std::string(std::uint64_t)>& render) {
  if (!fd_) return core::fail(core::ErrorCode::Io, dir_ + ": no segment open");
  if (segments_.back().bytes >= options_.segment_bytes) {
    if (auto r = start_segment(next_seq_); !r) return tl::unexpected(r.error());
    apply_retention();
  }
  const std::uint64_t seq = next_seq_;
  std::string line = render(seq);
  std::string out = line + "\n";
  const char* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_.get(), p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      const std::string why = std::strerror(errno);
      // A partial line (a full disk) is cut at once, so the next line starts clean.
      if (left != out.size()) (void)::ftruncate(fd_.get(), static_cast<off_t>(segments_.back().bytes));
      return core::fail(core::ErrorCode::Io, segments_.back().path + ": write: " + why);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  Segment& s = segments_.back();
  if (s.lines % kIndexEvery == 0) s.index.push_back(s.bytes);
  s.bytes += out.size();
  ++s.lines;
  s.mtime = static_cast<std::int64_t>(std::time(nullptr));
  ++next_seq_;
  dirty_ = true;
  return line;
}

core::Result<std::uint64_t> Journal::read(std::uint64_t since, std::size_t max_bytes,
                                          const std::function<void(std::string_view)>& out) const {
  if (since + 1 < first_seq()) {
    return core::fail(
        core::ErrorCode::NotFound,
        "seq " + std::to_string(since + 1) + " is no longer kept; the oldest kept is " + std::to_string(first_seq()));
  }
  std::uint64_t next = since + 1;
  std::size_t sent = 0;
  for (const Segment& s : segments_) {
    if (next >= s.first_seq + s.lines) continue;
    const std::uint64_t k = (next - s.first_seq) / kIndexEvery;
    std::uint64_t line = k * kIndexEvery;
    const int fd = ::open(s.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return core::fail(core::ErrorCode::Io, s.path + ": " + std::strerror(errno));
    core::UniqueFd f(fd);
    std::uint64_t off = s.index[k];
    std::string buf;
    char chunk[1 << 16];
    while (line < s.lines) {
      const ssize_t n = ::pread(fd, chunk, sizeof chunk, static_cast<off_t>(off + buf.size()));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      std::size_t pos = 0;
      for (std::size_t nl; line < s.lines && (nl = buf.find('\n', pos)) != std::string::npos; pos = nl + 1, ++line) {
        if (s.first_seq + line < next) continue;
        out(std::string_view(buf.data() + pos, nl - pos));
        sent += nl - pos + 1;
        next = s.first_seq + line + 1;
        if (sent >= max_bytes) return next - 1;
      }
      off += pos;
      buf.erase(0, pos);
    }
  }
  return next - 1;
}

core::Result<void> Journal::sync() {
  if (!dirty_ || !fd_) return {};
  if (::fdatasync(fd_.get()) != 0)
    return core::fail(core::ErrorCode::Io, segments_.back().path + ": fdatasync: " + std::strerror(errno));
  dirty_ = false;
  return {};
}

core::UniqueFd Journal::take_sync() {
  if (!dirty_ || !fd_) return {};
  core::UniqueFd dup(::fcntl(fd_.get(), F_DUPFD_CLOEXEC, 0));
  if (!dup) {
    // No descriptor to hand over (EMFILE): synced here, on the caller's thread, rather
    // than a checkpoint written ahead of the journal.
    if (auto ok = sync(); !ok) spdlog::error("journal not synced: {}", ok.error().message);
    return {};
  }
  dirty_ = false;
  return dup;
}

}  // namespace medic::publish
