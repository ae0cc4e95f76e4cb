#pragma once
// Follows one log file by path, keyed by its identity (dev, ino), never by name:
// - new bytes are read in bounded chunks from the saved offset (no blocking, no polling:
//   the caller reads when a watcher reports a change);
// - truncation (size < offset): restart at 0;
// - rename rotation (<task>.log -> <task>.log.1): the old descriptor is drained to EOF
//   first, then the new file at the path is read from 0;
// - deletion (st_nlink == 0 and nothing at the path): drain, then stop.
// Each restart is reported so the caller resets its match stream.
// Thread: the loop thread. Errors: logged by the caller from Status.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace medic::tail {

struct FileId {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  friend bool operator==(const FileId&, const FileId&) = default;
};

class Tailer {
 public:
  /// Called with the file identity and offset of each piece of new bytes. `restarted`
  /// is true for the first bytes after a truncation or a new file at the path.
  using Sink = std::function<void(const FileId&, std::uint64_t offset, std::string_view bytes, bool restarted)>;

  Tailer(std::string path, std::size_t chunk_bytes = 256 * 1024) : path_(std::move(path)), chunk_(chunk_bytes) {}
  ~Tailer();
  Tailer(const Tailer&) = delete;
  Tailer& operator=(const Tailer&) = delete;

  /// Resume a file seen before: only used when the file at the path still has `id`.
  void resume(const FileId& id, std::uint64_t offset) {
    resume_id_ = id;
    resume_offset_ = offset;
  }

  /// Reads everything available now (at most `budget` bytes; returns true when more
  /// remains, so the caller reschedules instead of blocking the loop).
  bool read_available(const Sink& sink, std::size_t budget = 8u << 20);

  /// Reads again from `offset` of the current file (a rule reload restarts the match
  /// stream at the unterminated line's start).
  void rewind_to(std::uint64_t offset) { offset_ = offset; }

  const std::string& path() const { return path_; }
  const FileId& id() const { return id_; }
  std::uint64_t offset() const { return offset_; }
  bool open() const { return fd_ >= 0; }
  std::uint64_t rotations() const { return rotations_; }
  /// Read and open failures so far (a missing file is not one), and the last message.
  std::uint64_t errors() const { return errors_; }
  const std::string& last_error() const { return last_error_; }
  std::uint64_t truncations() const { return truncations_; }

 private:
  bool drain(const Sink& sink, std::size_t& budget);
  void close_fd();

  std::string path_;
  std::size_t chunk_;
  int fd_ = -1;
  FileId id_;
  std::uint64_t offset_ = 0;
  bool restarted_ = false;
  FileId resume_id_;
  std::uint64_t resume_offset_ = 0;
  std::uint64_t rotations_ = 0;
  std::uint64_t truncations_ = 0;
  std::uint64_t errors_ = 0;
  std::string last_error_;
};

}  // namespace medic::tail
