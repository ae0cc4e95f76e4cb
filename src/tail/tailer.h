#pragma once
// Follows one log file, named inside its logs directory, keyed by its identity (dev, ino),
// never by name:
// - new bytes are read in bounded chunks from the saved offset (no blocking, no polling:
//   the caller reads when a watcher reports a change);
// - truncation (size < offset): restart at 0;
// - rename rotation (<task>.log -> <task>.log.1): the old descriptor is drained to EOF
//   first, then the new file at the name is read from 0; the old descriptor stays open
//   (until the next rotation, or its file is deleted), so bytes a writer still adds to
//   the renamed file are read too (reported with `rotated`);
// - a rotation while medic was down: the file saved at its offset is found again under
//   "<name>.1" and finished from there before the new file is read;
// - a truncation followed at once by a rewrite past the old offset, which identity and
//   size cannot tell: the last 64 bytes before the offset are kept (a fingerprint, as
//   Vector does) and compared before each read; a mismatch restarts at 0;
// - deletion (st_nlink == 0 and nothing at the name): drain, then stop.
// Each restart is reported so the caller resets its match stream.
// Untrusted input: a worker controls its log. Only a regular file directly inside the
// logs directory is ever opened (openat O_NOFOLLOW | O_NONBLOCK, then fstat): a link
// (to /etc/shadow), a FIFO, a device or a directory at the name is refused, reported once
// through refused(), and never read.
// Thread: the loop thread. Errors: counted, with the last message, for the caller to log.

#include <sys/types.h>
#include <unistd.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/ids.h"

namespace medic::tail {

using core::FileId;

class Tailer {
 public:
  /// Called with the file identity and offset of each piece of new bytes. `restarted`
  /// is true for the first bytes after a truncation or a new file at the path.
  /// `rotated`: the bytes come from the renamed-away file (after the current one started).
  using Sink =
      std::function<void(const FileId&, std::uint64_t offset, std::string_view bytes, bool restarted, bool rotated)>;

  /// `dir` is the logs directory's path (for messages), `name` the file's name in it (one
  /// path component).
  Tailer(const std::string& dir, std::string name, std::size_t chunk_bytes = 256 * 1024);
  ~Tailer();
  Tailer(const Tailer&) = delete;
  Tailer& operator=(const Tailer&) = delete;

  /// Resume a file seen before, at `offset`, when the file at the name (or, rotated while
  /// medic was down, "<name>.1") still has `id` and, when `fingerprint` is set, the same
  /// bytes before the offset.
  void resume(const FileId& id, std::uint64_t offset, std::uint64_t fingerprint = 0) {
    resume_id_ = id;
    resume_offset_ = offset;
    resume_fp_ = fingerprint;
  }
  /// A hash of the bytes just before offset() (0 at offset 0), for resume().
  std::uint64_t fingerprint() const;

  /// Reads what is available now through `dir_fd` (the logs directory, opened by the
  /// caller), at most `budget` bytes; returns true when more remains, so the caller
  /// reschedules instead of blocking the loop. `replaced` false: the caller knows the name
  /// was only written since the last call (inotify said so), so it still holds the open
  /// file and the name is not looked up again.
  bool read_available(int dir_fd, const Sink& sink, std::size_t budget = 8u << 20, bool replaced = true);

  /// Reads again from `offset` of the current file (a rule reload restarts the match
  /// stream at the unterminated line's start).
  void rewind_to(std::uint64_t offset) {
    // The fingerprint becomes the bytes before the new offset, as far as they are known.
    const std::uint64_t back = offset_ > offset ? offset_ - offset : 0;
    tail_.resize(back < tail_.size() ? tail_.size() - static_cast<std::size_t>(back) : 0);
    offset_ = offset;
  }

  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }
  const FileId& id() const { return id_; }
  std::uint64_t offset() const { return offset_; }
  bool open() const { return fd_ >= 0; }
  /// The renamed-away file is still held open for its writer's late bytes.
  bool holds_rotated() const { return rotated_fd_ >= 0; }
  /// Stops waiting for late bytes of the renamed-away file (the caller has read it to its
  /// end): Hermes rotates at spawn, so the old file's writer is gone.
  void release_rotated() {
    if (rotated_fd_ >= 0) ::close(rotated_fd_);
    rotated_fd_ = -1;
  }
  std::uint64_t rotations() const { return rotations_; }
  /// Read and open failures so far (a missing file is not one), and the last message.
  std::uint64_t errors() const { return errors_; }
  const std::string& last_error() const { return last_error_; }
  std::uint64_t truncations() const { return truncations_; }
  /// Non-empty while the thing at the name is not a regular file (a link, a FIFO, ...):
  /// what it is. refusals() counts distinct refused files (by identity), so the caller
  /// logs each once.
  const std::string& refused() const { return refused_; }
  std::uint64_t refusals() const { return refusals_; }

 private:
  bool drain(const Sink& sink, std::size_t& budget, bool verify);
  bool drain_rotated(const Sink& sink, std::size_t& budget);
  void close_fd();
  bool refuse(const FileId& id, std::string what);
  void remember_tail(std::string_view bytes);
  bool open_rotated_at_resume(int dir_fd);

  std::string path_;
  std::string name_;
  std::size_t chunk_;
  int fd_ = -1;
  FileId id_;
  std::uint64_t offset_ = 0;
  bool restarted_ = false;
  FileId resume_id_;
  std::uint64_t resume_offset_ = 0;
  std::uint64_t resume_fp_ = 0;
  // The last bytes read before offset_ (at most kTailBytes): the fingerprint.
  static constexpr std::size_t kTailBytes = 64;
  std::string tail_;
  // The renamed-away file, still read for late bytes.
  int rotated_fd_ = -1;
  FileId rotated_id_;
  std::uint64_t rotated_offset_ = 0;
  std::uint64_t rotations_ = 0;
  std::uint64_t truncations_ = 0;
  std::uint64_t errors_ = 0;
  std::string last_error_;
  std::string refused_;
  FileId refused_id_;
  std::uint64_t refusals_ = 0;
};

}  // namespace medic::tail
