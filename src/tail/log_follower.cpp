#include "tail/log_follower.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "core/ids.h"
#include "loop/handles.h"

namespace medic::tail {

LogFollower::LogFollower(loop::UvHandle<uv_timer_t> more_timer, const match::PatternDb& db, match::Matcher& matcher,
                         Callbacks callbacks)
    : more_timer_(std::move(more_timer)), db_(&db), matcher_(matcher), cb_(std::move(callbacks)) {
  more_timer_.get()->data = this;
}

void LogFollower::on_change(const std::string& board, const std::string& logs_dir, const std::string& name,
                            bool replaced) {
  if (File* f = follow(board, logs_dir, name)) read(*f, false, replaced);
}

// The log at `name`, followed from now on if it was not yet; null for a name that is not
// a live log of a valid task id (or a stream that cannot open).
LogFollower::File* LogFollower::follow(const std::string& board, const std::string& logs_dir, const std::string& name) {
  // Only live logs: "<task>.log". A rotated "<task>.log.1" is finished through the
  // descriptor the tailer already holds.
  const int dir_fd = cb_.logs_fd(board);
  if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".log") != 0 || dir_fd < 0) return nullptr;
  const std::string path = logs_dir + "/" + name;
  auto it = logs_.find(path);
  if (it == logs_.end()) {
    const std::string task = name.substr(0, name.size() - 4);
    if (!core::valid_task_id(task)) {
      cb_.refuse_once("log:" + path, "log=" + path + " refused: not a Hermes task id (t_[a-z0-9_-]+); not read");
      return nullptr;
    }
    struct stat st {};
    auto pk = parked_.find(path);
    if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT && pk != parked_.end()) {
        // Renamed to "<name>.1" (a rotation whose new file is not there yet): kept, so the
        // new file's first read finishes the old one from the parked offset, as after a
        // restart. Deleted (Hermes's gc): forgotten.
        struct stat old {};
        const std::string rotated = name + ".1";
        if (::fstatat(dir_fd, rotated.c_str(), &old, AT_SYMLINK_NOFOLLOW) != 0 ||
            !(FileId::of(old) == pk->second.at.id)) {
          parked_.erase(pk);
          ++parked_version_;
        }
      }
      return nullptr;
    }
    if (pk != parked_.end() && S_ISREG(st.st_mode) && FileId::of(st) == pk->second.at.id &&
        static_cast<std::uint64_t>(st.st_size) == pk->second.at.offset)
      return nullptr;  // parked and unchanged (a rescan looks at every name): stays parked
    File f;
    f.log = Log{board, task, path, 0};
    f.tailer = std::make_unique<Tailer>(logs_dir, name);
    auto s = match::Stream::open(*db_, match::StreamOptions{});
    if (!s) {
      ++stream_errors_;
      spdlog::error("log={} not followed: {}", path, s.error().message);
      return nullptr;
    }
    f.stream.emplace(std::move(*s));
    if (pk != parked_.end()) {
      // Parked: reopened where it stood (the tailer checks it is the same file).
      f.tailer->resume(pk->second.at.id, pk->second.at.offset, pk->second.at.fingerprint);
      restart_stream(f, *db_, pk->second.at.offset, pk->second.at.line);
      parked_.erase(pk);
      ++parked_version_;
    } else if (auto sv = saved_.find(path); sv != saved_.end()) {
      // Used once: a position from the last start must not apply again to a later file
      // at this name (it would re-read a rotated "<name>.1" from that old offset).
      f.tailer->resume(sv->second.id, sv->second.offset, sv->second.fingerprint);
      restart_stream(f, *db_, sv->second.offset, sv->second.line);
      saved_.erase(sv);
    } else if (starting_ && S_ISREG(st.st_mode)) {
      f.log.history_end = static_cast<std::uint64_t>(st.st_size);
    }
    it = logs_.emplace(path, std::move(f)).first;
  }
  return &it->second;
}

void LogFollower::finish(const std::string& board, const std::string& logs_dir, const std::string& task) {
  // The log may be a file whose creation inotify has not reported yet: follow it first.
  if (File* f = follow(board, logs_dir, task + ".log")) {
    read(*f, true);
    flush_last_line(*f);
  }
}

void LogFollower::read_all() {
  for (auto& [path, f] : logs_) read(f);
}

void LogFollower::end_startup() {
  starting_ = false;
  // Logs deleted (Hermes's gc) while medic was down raise no event: their restored
  // positions would stay in the side file for good. Each one is looked up once.
  std::size_t dropped = 0;
  for (auto it = parked_.begin(); it != parked_.end();) {
    const int dir_fd = cb_.logs_fd(it->second.board);
    const std::size_t slash = it->first.rfind('/');
    struct stat st {};
    if (dir_fd >= 0 && slash != std::string::npos &&
        ::fstatat(dir_fd, it->first.c_str() + slash + 1, &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
      it = parked_.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
  if (dropped > 0) ++parked_version_;
}

void LogFollower::drop_board(const std::string& board) {
  std::erase_if(logs_, [&](const auto& kv) { return kv.second.log.board == board; });
  if (std::erase_if(parked_, [&](const auto& kv) { return kv.second.board == board; }) > 0) ++parked_version_;
}

std::size_t LogFollower::park_idle(const std::function<bool(const Log&)>& may_park) {
  std::size_t n = 0;
  for (auto it = logs_.begin(); it != logs_.end();) {
    File& f = it->second;
    // Not read since the previous call: idle for a whole period; and its logs dir is
    // there, so a read below can happen.
    if (f.read_in_period >= park_period_ || more_.count(it->first) || cb_.logs_fd(f.log.board) < 0 ||
        !may_park(f.log)) {
      ++it;
      continue;
    }
    if (f.tailer->holds_rotated()) {
      // A rotated log (Hermes rotates at spawn, above 2 MiB) keeps the old file open for
      // late bytes, which raise no event of the live name: read them, then let it go.
      read(f, true);
      f.tailer->release_rotated();
    }
    if (!f.tailer->open() || f.stream->finished() || f.stream->line_start_offset() != f.tailer->offset()) {
      ++it;
      continue;
    }
    parked_[it->first] =
        Parked{f.log.board, Saved{f.tailer->id(), f.tailer->offset(), f.stream->next_line(), f.tailer->fingerprint()}};
    it = logs_.erase(it);
    ++n;
  }
  ++park_period_;
  if (n > 0) ++parked_version_;
  return n;
}

void LogFollower::read(File& f, bool all, bool replaced) {
  const int dir_fd = cb_.logs_fd(f.log.board);
  if (dir_fd < 0) return;
  f.read_in_period = park_period_;
  const std::uint64_t errors_before = f.tailer->errors();
  const std::uint64_t refusals_before = f.tailer->refusals();
  std::vector<match::Hit> hits;
  // At most kReadBudget bytes per call (the tailer's budget): a log far behind is
  // continued from the loop (more_), so it never holds up an exit of another.
  const bool more = f.tailer->read_available(
      dir_fd,
      [&](const FileId&, std::uint64_t offset, std::string_view bytes, bool restarted, bool rotated) {
        if (rotated) {
          // Late bytes of the renamed-away file: a stream of their own, ended at once.
          if (auto rs = match::Stream::open(*db_, match::StreamOptions{})) {
            if (rs->restart(*db_, offset, 0)) {
              rs->feed(bytes, matcher_, hits);
              rs->finish(matcher_, hits);
              emit(f, hits);
            }
          }
          return;
        }
        if (restarted) {
          // A new file at the path (rotation) or a truncation: the old stream's last
          // line ends here, the new bytes start a fresh stream at offset 0.
          f.stream->finish(matcher_, hits);
          emit(f, hits);
          restart_stream(f, *db_, offset, 1);
        }
        f.stream->feed(bytes, matcher_, hits);
        emit(f, hits);
      },
      kReadBudget, replaced);
  if (more && all) {
    read(f, true);
    return;
  }
  if (more) {
    more_.insert(f.log.path);
    if (more_timer_ && !uv_is_active(more_timer_.handle())) {
      auto ok = loop::start_timer(
          more_timer_,
          [](uv_timer_t* t) {
            auto* self = static_cast<LogFollower*>(t->data);
            auto paths = std::exchange(self->more_, {});
            for (const auto& p : paths) {
              if (auto it = self->logs_.find(p); it != self->logs_.end()) self->read(it->second);
            }
          },
          0);
      if (!ok) spdlog::error("event loop: {}", ok.error().message);
    }
  }
  if (f.tailer->errors() != errors_before) {
    spdlog::warn("log={} error=\"{}\" errors={}", f.tailer->path(), f.tailer->last_error(), f.tailer->errors());
  }
  if (f.tailer->refusals() != refusals_before) {
    cb_.on_refused();
    spdlog::warn("log={} refused: {} (only regular files in the logs dir are read); not read", f.tailer->path(),
                 f.tailer->refused());
  }
  dirty_ = true;
}

// A worker that dies mid-line leaves its last line without a newline; once its exit is
// seen by its pid or a Hermes event, that line is complete and may be the evidence. (An
// exit by trailer needs nothing: the trailer line ends with one.) The next run's bytes,
// appended to the same log, start a new line.
void LogFollower::flush_last_line(File& f) {
  if (!f.stream || f.stream->finished() || f.stream->line_start_offset() == f.stream->offset()) return;
  std::vector<match::Hit> hits;
  const std::uint64_t offset = f.stream->offset();
  const std::uint64_t line = f.stream->next_line() + 1;
  f.stream->finish(matcher_, hits);
  emit(f, hits);
  restart_stream(f, *db_, offset, line);
}

// A stream that cannot reopen (Hyperscan out of memory) leaves its log unmatched from
// here on: say so, and count it.
void LogFollower::restart_stream(File& f, const match::PatternDb& db, std::uint64_t offset, std::uint64_t line) {
  if (auto r = f.stream->restart(db, offset, line); !r) {
    ++stream_errors_;
    spdlog::error("log={} stream not restarted at offset {}: {}; its later lines go unmatched", f.tailer->path(),
                  offset, r.error().message);
  }
}

void LogFollower::emit(File& f, std::vector<match::Hit>& hits) {
  if (!hits.empty()) cb_.on_hits(f.log, hits);
  hits.clear();
}

void LogFollower::switch_db(const match::PatternDb& next) {
  for (auto& [path, f] : logs_) {
    const auto start = f.stream->line_start_offset();
    const auto line = f.stream->next_line();
    restart_stream(f, next, start, line);
    f.tailer->rewind_to(start);
  }
  db_ = &next;
}

std::map<std::string, LogFollower::Saved> LogFollower::positions() const {
  std::map<std::string, Saved> out;
  for (const auto& [path, f] : logs_) {
    if (!f.tailer->open()) continue;
    // The start of the unterminated line: a restart re-reads it whole.
    Saved at{f.tailer->id(), f.stream->line_start_offset(), f.stream->next_line(), 0};
    // The tailer's fingerprint is of the bytes before its own offset: saved only when that
    // is the saved offset too (no unterminated line).
    if (f.stream->line_start_offset() == f.tailer->offset()) at.fingerprint = f.tailer->fingerprint();
    out.emplace(path, at);
  }
  return out;
}

}  // namespace medic::tail
