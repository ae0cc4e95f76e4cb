#include "match/stream.h"

#include <algorithm>
#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/check.h"

namespace medic::match {
namespace {

// Counting lines costs a pass over every byte, so it must be much faster than the
// Hyperscan scan itself: std::count ran at ~3.5 GB/s (match_bench), this SSE2 loop
// (baseline on x86-64) keeps per-byte counters in one register and sums them every
// 255 blocks, several times faster.
std::uint64_t count_newlines(const char* p, std::size_t n) {
  std::uint64_t total = 0;
#if defined(__SSE2__)
  const __m128i nl = _mm_set1_epi8('\n');
  const __m128i zero = _mm_setzero_si128();
  while (n >= 16) {
    std::size_t blocks = std::min<std::size_t>(n / 16, 255);
    __m128i acc = zero;
    for (std::size_t b = 0; b < blocks; ++b, p += 16) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
      acc = _mm_sub_epi8(acc, _mm_cmpeq_epi8(v, nl));  // a match is -1
    }
    const __m128i sums = _mm_sad_epu8(acc, zero);
    total += static_cast<std::uint64_t>(_mm_cvtsi128_si64(sums)) +
             static_cast<std::uint64_t>(_mm_cvtsi128_si64(_mm_unpackhi_epi64(sums, sums)));
    n -= blocks * 16;
  }
#endif
  return total + static_cast<std::uint64_t>(std::count(p, p + n, '\n'));
}

const char* find_last_newline(const char* p, std::size_t n) { return static_cast<const char*>(memrchr(p, '\n', n)); }

void push_unique(std::vector<std::uint32_t>& v, std::uint32_t rule) {
  if (std::find(v.begin(), v.end(), rule) == v.end()) v.push_back(rule);
}

}  // namespace

core::Result<Stream> Stream::open(const PatternDb& db, StreamOptions options) {
  Stream s(db, options);
  if (auto r = s.restart(db); !r) return tl::unexpected(r.error());
  return s;
}

core::Result<void> Stream::restart(const PatternDb& db, std::uint64_t offset, std::uint64_t line) {
  db_ = &db;
  hs_stream_t* raw = nullptr;
  if (hs_open_stream(db.hs(), 0, &raw) != HS_SUCCESS) {
    return core::fail(core::ErrorCode::Internal, "hs_open_stream failed");
  }
  hs_.reset(raw);
  origin_ = offset;
  offset_ = offset;
  carry_.clear();
  carry_.shrink_to_fit();  // idle streams keep no line buffer
  carry_truncated_ = false;
  carry_offset_ = offset;
  lines_before_carry_ = line > 0 ? line - 1 : 0;
  pending_.clear();
  context_.clear();
  return {};
}

int Stream::on_match(unsigned id, unsigned long long /*from*/, unsigned long long to, unsigned /*flags*/, void* ctx) {
  auto* self = static_cast<Stream*>(ctx);
  self->raw_.push_back(RawMatch{id, static_cast<std::uint64_t>(to)});
  return 0;  // keep scanning
}

void Stream::feed(std::string_view bytes, Matcher& matcher, std::vector<Hit>& out) {
  if (!hs_ || bytes.empty()) return;
  raw_.clear();
  const hs_error_t rc =
      hs_scan_stream(hs_.get(), bytes.data(), bytes.size(), 0, matcher.scratch(), &Stream::on_match, this);
  // Any error here means a bad database or scratch: a broken invariant (Suricata).
  MEDIC_CHECK(rc == HS_SUCCESS, "hs_scan_stream failed: bad database or scratch");
  const std::uint64_t base = offset_;
  offset_ += bytes.size();
  resolve(bytes, base, matcher, out);
}

void Stream::append_carry(std::string_view bytes) {
  const std::size_t room = options_.max_line_bytes > carry_.size() ? options_.max_line_bytes - carry_.size() : 0;
  if (bytes.size() > room) carry_truncated_ = true;
  carry_.append(bytes.substr(0, room));
}

void Stream::add_pending(std::uint32_t rule) { push_unique(pending_, rule); }

void Stream::resolve(std::string_view chunk, std::uint64_t base, Matcher& matcher, std::vector<Hit>& out) {
  const char* d = chunk.data();
  const std::size_t n = chunk.size();
  const char* last = find_last_newline(d, n);
  // Chunk position of a match's last byte. Hyperscan counts `to` from the stream's
  // start, which is origin_ in the source. The position is negative for a match reported
  // late: a pattern ending in \b or $ is only confirmed by the next byte, so a match that
  // ends at a chunk's last byte arrives with the next chunk. Such a match lies in the
  // line that was unterminated at that boundary, the line section 1 below completes.
  auto last_byte = [&](const RawMatch& m) -> std::int64_t {
    return static_cast<std::int64_t>(origin_ + m.to) - 1 - static_cast<std::int64_t>(base);
  };
  if (!last) {
    // No line ends in this chunk: everything extends the unterminated line.
    append_carry(chunk);
    for (const RawMatch& m : raw_) add_pending(m.rule);
    return;
  }
  const std::size_t last_nl = static_cast<std::size_t>(last - d);
  const std::size_t first_nl =
      static_cast<std::size_t>(static_cast<const char*>(std::memchr(d, '\n', last_nl + 1)) - d);

  // Matches arrive in end-offset order; keep it stable for equal ends.
  std::stable_sort(raw_.begin(), raw_.end(), [](const RawMatch& a, const RawMatch& b) { return a.to < b.to; });

  std::size_t counted_to = 0;    // chunk position up to which newlines are counted
  std::uint64_t lines_seen = 0;  // newlines in d[0, counted_to)
  auto line_number_at = [&](std::size_t pos) -> std::uint64_t {
    if (!options_.count_lines) return 0;
    lines_seen += count_newlines(d + counted_to, pos - counted_to);
    counted_to = pos;
    return lines_before_carry_ + 1 + lines_seen;
  };

  std::vector<std::uint32_t> line_rules;
  std::size_t i = 0;
  // 1. The line that began in an earlier chunk (or at this chunk's start) and ends at
  //    first_nl: earlier pending hits plus matches ending in d[0, first_nl].
  line_rules = pending_;
  pending_.clear();
  while (i < raw_.size() && last_byte(raw_[i]) <= static_cast<std::int64_t>(first_nl)) {
    // A late match can only end before this line if it ended on a newline; that line
    // was already reported, so it is not attributed here.
    if (origin_ + raw_[i].to > carry_offset_) push_unique(line_rules, raw_[i].rule);
    ++i;
  }
  if (!line_rules.empty()) {
    const bool truncated = carry_truncated_ || carry_.size() + first_nl > options_.max_line_bytes;
    const std::size_t head_room = options_.max_line_bytes > carry_.size() ? options_.max_line_bytes - carry_.size() : 0;
    emit_line(carry_offset_, lines_before_carry_ + 1, carry_, chunk.substr(0, std::min(first_nl, head_room)), truncated,
              line_rules, matcher, out);
  }

  // 2. Lines wholly inside this chunk.
  while (i < raw_.size() && last_byte(raw_[i]) <= static_cast<std::int64_t>(last_nl)) {
    const std::size_t p = static_cast<std::size_t>(last_byte(raw_[i]));
    const char* start_nl = find_last_newline(d, p);  // p > first_nl, so one exists
    const std::size_t start = static_cast<std::size_t>(start_nl - d) + 1;
    const std::size_t end =
        static_cast<std::size_t>(static_cast<const char*>(std::memchr(d + p, '\n', last_nl + 1 - p)) - d);
    line_rules.clear();
    while (i < raw_.size() && last_byte(raw_[i]) <= static_cast<std::int64_t>(end)) {
      push_unique(line_rules, raw_[i].rule);
      ++i;
    }
    const std::size_t len = end - start;
    const std::uint64_t line_no = line_number_at(start);
    emit_line(base + start, line_no, {}, chunk.substr(start, std::min(len, options_.max_line_bytes)),
              len > options_.max_line_bytes, line_rules, matcher, out);
  }

  // 3. The new unterminated line after last_nl, and the matches that fall in it.
  if (options_.count_lines) {
    lines_seen += count_newlines(d + counted_to, last_nl + 1 - counted_to);
    lines_before_carry_ += lines_seen;
  }
  carry_.clear();
  carry_truncated_ = false;
  carry_offset_ = base + last_nl + 1;
  append_carry(chunk.substr(last_nl + 1));
  for (; i < raw_.size(); ++i) add_pending(raw_[i].rule);
}

void Stream::finish(Matcher& matcher, std::vector<Hit>& out) {
  if (!hs_) return;
  raw_.clear();
  const hs_error_t rc = hs_close_stream(hs_.release(), matcher.scratch(), &Stream::on_match, this);
  MEDIC_CHECK(rc == HS_SUCCESS, "hs_close_stream failed: bad database or scratch");
  // End-of-data matches (\b or $ at the very end) belong to the unterminated last line;
  // one ending on a newline before it belongs to a line already reported.
  for (const RawMatch& m : raw_) {
    if (origin_ + m.to > carry_offset_) add_pending(m.rule);
  }
  if (!pending_.empty()) {
    std::vector<std::uint32_t> rules;
    rules.swap(pending_);
    emit_line(carry_offset_, lines_before_carry_ + 1, carry_, {}, carry_truncated_, rules, matcher, out);
  }
  carry_.clear();
  carry_.shrink_to_fit();
}

void Stream::emit_line(std::uint64_t line_offset, std::uint64_t line_no, std::string_view head, std::string_view tail,
                       bool truncated, const std::vector<std::uint32_t>& rules, Matcher& matcher,
                       std::vector<Hit>& out) {
  std::string text;
  text.reserve(head.size() + tail.size());
  text.append(head);
  text.append(tail);
  if (!text.empty() && text.back() == '\r') text.pop_back();
  if (!options_.count_lines) line_no = 0;

  // Context rules first, so a line that both names the provider and fails is attributed.
  std::vector<std::uint32_t> ordered(rules);
  std::stable_partition(ordered.begin(), ordered.end(), [&](std::uint32_t r) { return db_->rule(r).is_context(); });
  for (std::uint32_t r : ordered) {
    Hit hit;
    hit.rule = r;
    hit.line = line_no;
    hit.offset = line_offset;
    hit.truncated = truncated;
    db_->extract(r, text, matcher, hit.fields);
    if (options_.apply_context) context_.apply(*db_, hit);
    hit.text = text;
    out.push_back(std::move(hit));
  }
}

}  // namespace medic::match
