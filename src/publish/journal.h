#pragma once
// The durable decision journal: one NDJSON message per line, each with a `seq` one more
// than the line before, across restarts. Subscribers replay from it (`since`), and the
// daemon rebuilds from it (open's on_decided) which runs were already decided, so a restart never repeats a
// decision.
// On disk: a directory of segments, `<first seq, 20 digits>.ndjson`; the newest is
// appended to and a new one starts past `segment_bytes`; whole old segments are deleted
// past `retain_bytes` or `retain_age_s` (the newest is always kept). In memory: per
// segment, the byte offset of every 64th line, so a replay from any seq reads the disk in
// order, O(lines read), never holding the journal in memory.
// Damage is cut off, never a reason to stay down: a torn last line (a crash or a full disk
// mid-write) or a line that does not parse or breaks the seq sequence ends its segment
// there; the bytes from it on are kept aside in `<segment>.corrupt-<epoch>`, counted and
// logged by the caller (recovered()).
// Lines are written with write() at once (a crash of medic loses nothing); fdatasync is
// batched by the caller (sync()) to keep it off the exit-to-decision path.
// Thread: the loop thread.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.h"
#include "core/unique_fd.h"

namespace medic::publish {

struct JournalOptions {
  std::uint64_t segment_bytes = 64ull << 20;
  std::uint64_t retain_bytes = 1ull << 30;
  std::int64_t retain_age_s = 30 * 86400;
};

/// What one segment's bytes hold: its good lines (each a JSON message whose seq follows
/// on), where the good part ends, and why the rest (if any) is damaged. Pure: the Journal
/// cuts and keeps aside what lies past `good_bytes`.
struct SegmentScan {
  std::uint64_t lines = 0;
  std::uint64_t good_bytes = 0;
  std::vector<std::uint64_t> index;                          // byte offset of every `index_every`-th line
  std::vector<std::pair<std::string, std::string>> decided;  // decision id, action (in order)
  std::int64_t last_decided_at = 0;
  std::string why;  // empty when the whole text is good
};
/// `first_line`: how many lines of the segment come before `text` (for the line numbers in `why`).
[[nodiscard]] SegmentScan scan_segment(std::string_view text, std::uint64_t first_seq, std::uint64_t index_every = 64,
                                       std::uint64_t first_line = 0);

class Journal {
 public:
  /// Called at open for each decision line kept, in seq order: its id and action. The
  /// journal itself keeps no ids (the caller's store does, compactly).
  using OnDecided = std::function<void(std::string_view id, std::string_view action)>;
  /// Opens (or creates) the journal directory `dir`. A legacy single-file journal at
  /// `legacy_file` (medic before segments) becomes its first segment.
  [[nodiscard]] static core::Result<Journal> open(const std::string& dir, JournalOptions options = {},
                                                  const std::string& legacy_file = {},
                                                  const OnDecided& on_decided = {});
  Journal(Journal&&) noexcept = default;
  Journal& operator=(Journal&&) noexcept = default;
  ~Journal();

  /// Renders the next message with its seq and appends it; returns the line (no '\n').
  [[nodiscard]] core::Result<std::string> append(const std::function<std::string(std::uint64_t seq)>& render);

  /// Calls `out` for the lines with seq > since, in order, stopping after `max_bytes` (at
  /// least one line). Returns the last seq passed to `out` (`since` when none). Fails when
  /// lines after `since` are no longer kept (since < first_seq() - 1).
  [[nodiscard]] core::Result<std::uint64_t> read(std::uint64_t since, std::size_t max_bytes,
                                                 const std::function<void(std::string_view)>& out) const;
  /// fdatasync of the newest segment when lines were appended since the last sync. Fails
  /// with the kernel's reason (the lines may not be on disk; the next sync tries again).
  [[nodiscard]] core::Result<void> sync();
  /// The same, off the loop: a duplicate of the newest segment's descriptor when lines were
  /// appended since the last sync (the caller fdatasyncs and closes it, on another thread),
  /// else an empty one. A finished segment is synced when the next starts.
  [[nodiscard]] core::UniqueFd take_sync();
  /// The descriptor take_sync() handed over could not be synced: the newest segment counts
  /// as unsynced again (the next take_sync or sync tries again).
  void mark_unsynced() { dirty_ = fd_.get() >= 0; }

  std::uint64_t last_seq() const { return next_seq_ - 1; }
  /// The oldest seq still kept (last_seq() + 1 when the journal is empty).
  std::uint64_t first_seq() const;

  struct Recovered {
    std::string segment;      // the damaged segment
    std::uint64_t bytes = 0;  // bytes cut from it
    std::string kept_at;      // where they were kept
    std::string why;          // the first bad line's problem
  };
  /// What open() cut off (empty: the journal was whole).
  const std::vector<Recovered>& recovered() const { return recovered_; }
  /// The newest decided_at of the decisions read at open (0: none): where a restart that
  /// lost its checkpoint resumes reading the boards.
  std::int64_t last_decided_at() const { return last_decided_at_; }
  /// Segments deleted by retention since open.
  std::uint64_t segments_dropped() const { return dropped_; }

 private:
  struct Segment {
    std::string path;
    std::uint64_t first_seq = 0;
    std::uint64_t lines = 0;
    std::uint64_t bytes = 0;
    std::int64_t mtime = 0;
    std::vector<std::uint64_t> index;  // byte offset of lines 0, 64, 128, ...
  };
  static constexpr std::uint64_t kIndexEvery = 64;
  Journal() = default;
  core::Result<void> scan(Segment& s, const OnDecided& on_decided);
  core::Result<void> start_segment(std::uint64_t first_seq);
  void apply_retention();

  std::string dir_;
  JournalOptions options_;
  std::vector<Segment> segments_;  // oldest first
  core::UniqueFd fd_;              // the newest segment, appended to
  std::uint64_t next_seq_ = 1;
  std::vector<Recovered> recovered_;
  std::uint64_t dropped_ = 0;
  std::int64_t last_decided_at_ = 0;
  bool dirty_ = false;
};

}  // namespace medic::publish
