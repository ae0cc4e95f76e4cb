#pragma once
// One input source (a log file, stdin) scanned as a Hyperscan stream, so a signature
// split across two reads is still found. The caller feeds large chunks (never one call
// per line); the stream turns matches into Hits carrying their whole line, which may
// have started in an earlier chunk, and runs the rule's extractors on that line only.
//
// Lines: a hit's line is the one holding the last byte of the match. A line without its
// newline yet is held (up to max_line_bytes of text) until the newline arrives or
// finish() is called. One hit per (line, rule), however often the rule matches the line.
//
// Context: a context rule's fields (provider, model) are remembered and added to the
// later failure hits of this stream that did not extract the same field themselves.
//
// Ownership: borrows the PatternDb, which must outlive the stream (or a restart() onto a
// new one). Not thread-safe; use with the Matcher of the thread that owns the stream.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "match/context_tracker.h"
#include "match/hit.h"
#include "match/hs_ptr.h"
#include "match/matcher.h"
#include "match/pattern_db.h"

namespace medic::match {

struct StreamOptions {
  /// Count lines so hits carry their line number. Costs one pass over the bytes.
  bool count_lines = true;
  /// Longest line text kept for a hit; longer lines are reported truncated.
  std::size_t max_line_bytes = 64 * 1024;
  /// Add context fields to failure hits here. Off when the caller scans one source in
  /// parallel segments and applies a ContextTracker to the merged hits itself.
  bool apply_context = true;
};

class Stream {
 public:
  [[nodiscard]] static core::Result<Stream> open(const PatternDb& db, StreamOptions options = {});

  /// Scans the next bytes of the source; completed lines' hits are appended to `out`.
  void feed(std::string_view bytes, Matcher& matcher, std::vector<Hit>& out);

  /// End of input: flushes end-of-data matches and reports the unterminated last line.
  /// The stream then accepts no more bytes until restart().
  void finish(Matcher& matcher, std::vector<Hit>& out);

  /// Starts over at offset `offset` (a truncated or replaced file, or a rule reload onto
  /// `db`), with line numbering from `line` (the 1-based number of the next line).
  [[nodiscard]] core::Result<void> restart(const PatternDb& db, std::uint64_t offset = 0, std::uint64_t line = 1);

  /// Bytes fed so far, as an offset in the source (where the next byte goes).
  std::uint64_t offset() const { return offset_; }
  /// Offset of the first byte of the line not yet complete (== offset() at a line end).
  std::uint64_t line_start_offset() const { return carry_offset_; }
  /// 1-based number of the line not yet complete.
  std::uint64_t next_line() const { return lines_before_carry_ + 1; }
  bool finished() const { return !hs_; }

 private:
  struct RawMatch {
    std::uint32_t rule;
    std::uint64_t to;  // absolute end offset (exclusive)
  };

  Stream(const PatternDb& db, StreamOptions options) : db_(&db), options_(options) {}
  static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void* ctx);
  void resolve(std::string_view chunk, std::uint64_t base, Matcher& matcher, std::vector<Hit>& out);
  void emit_line(std::uint64_t line_offset, std::uint64_t line_no, std::string_view head, std::string_view tail,
                 bool truncated, const std::vector<std::uint32_t>& rules, Matcher& matcher, std::vector<Hit>& out);
  void append_carry(std::string_view bytes);
  void add_pending(std::uint32_t rule);

  const PatternDb* db_;
  StreamOptions options_;
  HsStreamPtr hs_;
  std::uint64_t origin_ = 0;  // source offset where the Hyperscan stream began
  std::uint64_t offset_ = 0;
  std::vector<RawMatch> raw_;  // matches of the chunk being scanned
  std::string carry_;          // text of the unterminated line (capped)
  bool carry_truncated_ = false;
  std::uint64_t carry_offset_ = 0;        // where that line starts in the source
  std::uint64_t lines_before_carry_ = 0;  // newlines before carry_offset_
  std::vector<std::uint32_t> pending_;    // rules that hit the unterminated line
  ContextTracker context_;                // latest context fields (provider, model)
};

}  // namespace medic::match
