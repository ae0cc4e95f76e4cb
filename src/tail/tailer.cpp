#include "tail/tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/hash.h"

namespace medic::tail {

namespace {

const char* kind_of(mode_t mode) {
  if (S_ISLNK(mode)) return "a symbolic link";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

}  // namespace

Tailer::Tailer(const std::string& dir, std::string name, std::size_t chunk_bytes)
    : path_(dir + "/" + name), name_(std::move(name)), chunk_(chunk_bytes) {}

Tailer::~Tailer() {
  close_fd();
  if (rotated_fd_ >= 0) ::close(rotated_fd_);
}

void Tailer::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

// 0 (no check at resume) when the bytes before the offset are not all known (just
// after a rewind_to).
std::uint64_t Tailer::fingerprint() const {
  if (tail_.empty() || tail_.size() < std::min<std::uint64_t>(kTailBytes, offset_)) return 0;
  return core::fnv1a(tail_);
}

void Tailer::remember_tail(std::string_view bytes) {
  if (bytes.size() >= kTailBytes) {
    tail_.assign(bytes.substr(bytes.size() - kTailBytes));
  } else {
    tail_ += bytes;
    if (tail_.size() > kTailBytes) tail_.erase(0, tail_.size() - kTailBytes);
  }
}

bool Tailer::refuse(const FileId& id, std::string what) {
  if (refused_.empty() || !(id == refused_id_) || refused_ != what) ++refusals_;
  refused_ = std::move(what);
  refused_id_ = id;
  return false;
}

// Reads from offset_ to the end (or the budget). With `verify`, the first read starts
// kTailBytes early and checks those bytes are still the ones read last (the fingerprint),
// in the same pread as the new bytes: a file truncated, or truncated and rewritten past
// the offset, is read again from 0. A short read is the end of the file for now (a later
// write brings another inotify event), so an idle file costs no second pread.
bool Tailer::drain(const Sink& sink, std::size_t& budget, bool verify) {
  // One buffer for every file the loop thread follows: an idle file costs no buffer.
  thread_local std::vector<char> buf;
  if (buf.size() < chunk_ + kTailBytes) buf.resize(chunk_ + kTailBytes);
  while (budget > 0) {
    const std::size_t back = verify ? tail_.size() : 0;
    const std::size_t want = std::min(chunk_, budget);
    const ssize_t n = ::pread(fd_, buf.data(), back + want, static_cast<off_t>(offset_ - back));
    if (n < 0) {
      if (errno == EINTR) continue;
      ++errors_;
      last_error_ = std::string("read at offset ") + std::to_string(offset_) + ": " + std::strerror(errno);
      return false;
    }
    if (back > 0) {
      verify = false;
      if (static_cast<std::size_t>(n) < back || std::string_view(buf.data(), back) != tail_) {
        offset_ = 0;  // truncated (and maybe rewritten past the old offset already)
        tail_.clear();
        restarted_ = true;
        ++truncations_;
        continue;
      }
    }
    const std::size_t got = static_cast<std::size_t>(n) - back;
    if (got == 0) return false;  // EOF
    const std::string_view bytes(buf.data() + back, got);
    sink(id_, offset_, bytes, restarted_, false);
    remember_tail(bytes);
    restarted_ = false;
    offset_ += got;
    budget -= got;
    if (got < want) return false;  // the end, for now
  }
  return true;  // budget spent, more may remain
}

bool Tailer::drain_rotated(const Sink& sink, std::size_t& budget) {
  thread_local std::vector<char> buf;
  if (buf.size() < chunk_) buf.resize(chunk_);
  while (rotated_fd_ >= 0 && budget > 0) {
    const ssize_t n = ::pread(rotated_fd_, buf.data(), std::min(chunk_, budget), static_cast<off_t>(rotated_offset_));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      // Drained. A deleted file can get no more bytes: let it go.
      struct stat st {};
      if (::fstat(rotated_fd_, &st) != 0 || st.st_nlink == 0) {
        ::close(rotated_fd_);
        rotated_fd_ = -1;
      }
      return false;
    }
    sink(rotated_id_, rotated_offset_, std::string_view(buf.data(), static_cast<std::size_t>(n)), false, true);
    rotated_offset_ += static_cast<std::uint64_t>(n);
    budget -= static_cast<std::size_t>(n);
  }
  return rotated_fd_ >= 0 && budget == 0;
}

// medic was down while the log rotated: the file it was reading is "<name>.1" now.
bool Tailer::open_rotated_at_resume(int dir_fd) {
  const std::string old = name_ + ".1";
  struct stat st {};
  if (::fstatat(dir_fd, old.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
      !(FileId::of(st) == resume_id_) || resume_offset_ > static_cast<std::uint64_t>(st.st_size))
    return false;
  const int fd = ::openat(dir_fd, old.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  if (rotated_fd_ >= 0) ::close(rotated_fd_);
  rotated_fd_ = fd;
  rotated_id_ = resume_id_;
  rotated_offset_ = resume_offset_;
  ++rotations_;
  return true;
}

bool Tailer::read_available(int dir_fd, const Sink& sink, std::size_t budget, bool replaced) {
  // Late bytes of the renamed-away file come first: they were written before whatever
  // the new file holds, or at least belong to the run that was writing them.
  if (drain_rotated(sink, budget)) return true;
  // Only written: no fstatat of the name, the most frequent event's one path lookup. A
  // truncation still shows in the fingerprint the read checks.
  if (!replaced && fd_ >= 0) return drain(sink, budget, true);
  // lstat semantics: what is at the name itself, never what a link points at.
  struct stat path_st {};
  const bool at_path = ::fstatat(dir_fd, name_.c_str(), &path_st, AT_SYMLINK_NOFOLLOW) == 0;
  const FileId path_id = FileId::of(path_st);

  if (fd_ >= 0 && (!at_path || !(path_id == id_))) {
    // Rotated or deleted: finish the old file through our descriptor first, then keep it
    // open for the bytes its writer may still add (until the next rotation).
    if (drain(sink, budget, false)) return true;
    if (rotated_fd_ >= 0) ::close(rotated_fd_);
    rotated_fd_ = fd_;
    rotated_id_ = id_;
    rotated_offset_ = offset_;
    fd_ = -1;
    tail_.clear();
    ++rotations_;
  }
  if (fd_ < 0) {
    if (!at_path) return false;
    if (!S_ISREG(path_st.st_mode)) return refuse(path_id, kind_of(path_st.st_mode));
    // O_NOFOLLOW: a link swapped in since the fstatat is refused, not followed.
    // O_NONBLOCK: a FIFO swapped in cannot block the loop in open() or read().
    fd_ = ::openat(dir_fd, name_.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd_ < 0) {
      if (errno == ELOOP) return refuse(path_id, "a symbolic link");
      if (errno != ENOENT) {
        ++errors_;
        last_error_ = std::string("open: ") + std::strerror(errno);
      }
      return false;
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      const mode_t mode = st.st_mode;
      close_fd();
      return refuse(FileId::of(st), kind_of(mode));
    }
    refused_.clear();
    id_ = FileId::of(st);
    bool resumed = false;
    if (id_ == resume_id_ && resume_offset_ <= static_cast<std::uint64_t>(st.st_size)) {
      // The same file as before a restart: go on where we were, if its bytes before that
      // offset are still the ones read (else it was truncated and rewritten meanwhile).
      char buf[kTailBytes];
      const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(kTailBytes, resume_offset_));
      const ssize_t n = len ? ::pread(fd_, buf, len, static_cast<off_t>(resume_offset_ - len)) : 0;
      if (resume_fp_ == 0 ||
          (n == static_cast<ssize_t>(len) && core::fnv1a(std::string_view(buf, len)) == resume_fp_)) {
        offset_ = resume_offset_;
        tail_.assign(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
        restarted_ = false;
        resumed = true;
      }
    } else if (!(resume_id_ == FileId{}) && open_rotated_at_resume(dir_fd)) {
      if (drain_rotated(sink, budget)) return true;
    }
    if (!resumed) {
      offset_ = 0;
      tail_.clear();
      restarted_ = true;
    }
    resume_id_ = FileId{};
  }
  // A truncation (and a rewrite past the offset) shows in the fingerprint, checked by the
  // first read itself.
  return drain(sink, budget, true);
}

}  // namespace medic::tail
