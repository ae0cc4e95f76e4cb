#pragma once
// Follows every worker log of every board: one tail::Tailer and one match::Stream per
// "<task>.log" in a board's logs dir. Bytes in (as inotify reports them), hits out, in
// byte order, to the daemon's on_hits. What it owns, taken out of the daemon (issue 13):
// - which names are logs (a live "<task>.log" whose task id is in Hermes's grammar; a
//   rotated "<task>.log.1" is finished through the descriptor its tailer holds);
// - the read budget: at most kReadBudget bytes per log per loop turn, the rest continued
//   from the next turn, so a log far behind never holds up another's exit; `finish()`
//   reads a log to its end at once (an exit is about to be decided on it);
// - rotation and truncation (the tailer reports them; the stream restarts), late bytes of
//   a renamed-away file (a stream of their own), a dead worker's unterminated last line;
// - history: bytes written before medic's first start with no checkpoint to say what of
//   them was read (history_end: their trailers are run boundaries, not exits);
// - a rule reload: every stream restarts on the new database at its unterminated line's
//   start and is read again from there, so each line is scanned once, by one rule set;
// - resume positions from the checkpoint, and its files for the next one;
// - parking: a log idle for a whole park period, whose task the caller says is at rest,
//   is closed and kept as its position only (about 150 bytes instead of a descriptor, a
//   tailer and a match stream, about 2 KiB); its next change reopens it from there, as a
//   restart would. A logs dir keeps 30 days of logs (Hermes's gc), nearly all at rest,
//   so their positions go to a checkpoint side file written only when they change.
// Thread: the loop thread.

#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "loop/uv_handle.h"
#include "match/matcher.h"
#include "match/pattern_db.h"
#include "match/stream.h"
#include "tail/tailer.h"

namespace medic::tail {

class LogFollower {
 public:
  /// The log a batch of hits came from.
  struct Log {
    std::string board;
    std::string task_id;
    std::string path;
    std::uint64_t history_end = 0;  // hits before this offset are history
  };
  struct Callbacks {
    /// Hits of one log, in byte order (the vector is the caller's to move from; cleared after).
    std::function<void(const Log&, std::vector<match::Hit>&)> on_hits;
    /// A refusal to log once (a bad name, a link, a FIFO): key, message.
    std::function<void(const std::string&, const std::string&)> refuse_once;
    /// A refusal of a log file the tailer met (counted by the caller each time).
    std::function<void()> on_refused;
    /// The logs dir descriptor of a board (-1: none now).
    std::function<int(const std::string& board)> logs_fd;
  };
  struct Saved {
    FileId id;
    std::uint64_t offset = 0;
    std::uint64_t line = 1;
    std::uint64_t fingerprint = 0;
  };

  /// `more_timer`: an initialised timer for the reads continued from the next loop turn.
  LogFollower(loop::UvHandle<uv_timer_t> more_timer, const match::PatternDb& db, match::Matcher& matcher,
              Callbacks callbacks);
  LogFollower(const LogFollower&) = delete;
  LogFollower& operator=(const LogFollower&) = delete;

  /// Saved positions from the last run, applied when each file is first seen.
  void resume_from(std::map<std::string, Saved> saved) { saved_ = std::move(saved); }
  /// Parked positions from the last run (its side file): they stay parked, and a log the
  /// first scan finds unchanged is not reopened.
  void restore_parked(const std::string& board, const std::string& path, const Saved& at) {
    parked_[path] = Parked{board, at};
  }
  /// The first scan of the boards is over: logs seen from now on are new, not history.
  /// Restored parked positions of logs gone from a board that is there are dropped.
  void end_startup();

  /// `name` changed in board's logs dir (`logs_dir` is its path, for messages).
  /// `replaced`: the name may now hold another file (created, moved, removed); false when
  /// it was only written, and the tailer then reads on through the descriptor it holds.
  void on_change(const std::string& board, const std::string& logs_dir, const std::string& name, bool replaced = true);
  /// Reads the task's log to its end now and ends its unterminated last line: its worker is
  /// gone, and its exit is about to be decided on what the log holds.
  void finish(const std::string& board, const std::string& logs_dir, const std::string& task);
  /// Reads every log (the kernel dropped events: any change may have been missed).
  void read_all();
  void drop_board(const std::string& board);
  /// Restarts every stream on `next` (which outlives this follower's use of it) at its
  /// unterminated line's start; call read_all() once `next` is the daemon's database.
  void switch_db(const match::PatternDb& next);
  /// For the checkpoint, by path: where each open log's unterminated line starts (what
  /// resume_from takes at the next start).
  std::map<std::string, Saved> positions() const;
  /// Where each parked log stands, one at a time (no copy of them all), for the
  /// checkpoint's side file (restore_parked takes them back); parked_version() changes
  /// whenever they do.
  void for_each_parked(
      const std::function<void(const std::string& board, const std::string& path, const Saved&)>& fn) const {
    for (const auto& [path, p] : parked_) fn(p.board, path, p.at);
  }
  std::uint64_t parked_version() const { return parked_version_; }
  /// Parks the logs not read since the previous call (so idle for at least one period of
  /// the caller's) that `may_park` allows, that end at a line's end and hold no renamed-
  /// away file open. Returns how many were parked.
  std::size_t park_idle(const std::function<bool(const Log&)>& may_park);
  std::size_t parked() const { return parked_.size(); }
  void stop() { more_timer_.reset(); }

  std::size_t size() const { return logs_.size(); }
  std::uint64_t stream_errors() const { return stream_errors_; }
  /// True when a read happened since the last call (the checkpoint is dirty).
  bool take_dirty() { return std::exchange(dirty_, false); }

  static constexpr std::size_t kReadBudget = 4u << 20;

 private:
  struct File {
    Log log;
    std::unique_ptr<Tailer> tailer;
    std::optional<match::Stream> stream;
    std::uint64_t read_in_period = 0;  // park_period_ of its last read
  };
  struct Parked {
    std::string board;
    Saved at;
  };
  File* follow(const std::string& board, const std::string& logs_dir, const std::string& name);
  void read(File& f, bool all = false, bool replaced = true);
  void flush_last_line(File& f);
  void restart_stream(File& f, const match::PatternDb& db, std::uint64_t offset, std::uint64_t line);
  void emit(File& f, std::vector<match::Hit>& hits);

  loop::UvHandle<uv_timer_t> more_timer_;
  const match::PatternDb* db_;
  match::Matcher& matcher_;
  Callbacks cb_;
  std::map<std::string, File> logs_;  // by path
  std::set<std::string> more_;        // logs with bytes left after their budget
  std::map<std::string, Saved> saved_;
  std::map<std::string, Parked> parked_;  // by path
  std::uint64_t park_period_ = 0;         // park_idle calls so far
  std::uint64_t parked_version_ = 0;      // changes of parked_
  bool starting_ = true;
  bool dirty_ = false;
  std::uint64_t stream_errors_ = 0;
};

}  // namespace medic::tail
