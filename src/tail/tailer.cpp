#include "tail/tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace medic::tail {
namespace {

FileId id_of(const struct stat& st) {
  return FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
}

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

Tailer::~Tailer() { close_fd(); }

void Tailer::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Tailer::refuse(const FileId& id, std::string what) {
  if (refused_.empty() || !(id == refused_id_)) ++refusals_;
  refused_ = std::move(what);
  refused_id_ = id;
  return false;
}

bool Tailer::drain(const Sink& sink, std::size_t& budget) {
  // One buffer for every file the loop thread follows: an idle file costs no buffer.
  thread_local std::vector<char> buf;
  if (buf.size() < chunk_) buf.resize(chunk_);
  while (budget > 0) {
    const ssize_t n = ::pread(fd_, buf.data(), std::min(chunk_, budget), static_cast<off_t>(offset_));
    if (n < 0) {
      if (errno == EINTR) continue;
      ++errors_;
      last_error_ = std::string("read at offset ") + std::to_string(offset_) + ": " + std::strerror(errno);
      return false;
    }
    if (n == 0) return false;  // EOF
    sink(id_, offset_, std::string_view(buf.data(), static_cast<std::size_t>(n)), restarted_);
    restarted_ = false;
    offset_ += static_cast<std::uint64_t>(n);
    budget -= static_cast<std::size_t>(n);
  }
  return true;  // budget spent, more may remain
}

bool Tailer::read_available(int dir_fd, const Sink& sink, std::size_t budget) {
  // lstat semantics: what is at the name itself, never what a link points at.
  struct stat path_st {};
  const bool at_path = ::fstatat(dir_fd, name_.c_str(), &path_st, AT_SYMLINK_NOFOLLOW) == 0;
  const FileId path_id = id_of(path_st);

  if (fd_ >= 0 && (!at_path || !(path_id == id_))) {
    // Rotated or deleted: finish the old file through our descriptor first.
    if (drain(sink, budget)) return true;
    close_fd();
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
      return refuse(id_of(st), kind_of(mode));
    }
    refused_.clear();
    id_ = id_of(st);
    if (id_ == resume_id_ && resume_offset_ <= static_cast<std::uint64_t>(st.st_size)) {
      offset_ = resume_offset_;  // the same file as before a restart: go on where we were
      restarted_ = false;
    } else {
      offset_ = 0;
      restarted_ = true;
    }
    resume_id_ = FileId{};
  }
  struct stat st {};
  if (::fstat(fd_, &st) == 0 && static_cast<std::uint64_t>(st.st_size) < offset_) {
    offset_ = 0;  // truncated
    restarted_ = true;
    ++truncations_;
  }
  return drain(sink, budget);
}

}  // namespace medic::tail
