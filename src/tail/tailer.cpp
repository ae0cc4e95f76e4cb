#include "tail/tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace medic::tail {

Tailer::~Tailer() { close_fd(); }

void Tailer::close_fd() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool Tailer::drain(const Sink& sink, std::size_t& budget) {
  std::vector<char> buf(chunk_);
  while (budget > 0) {
    const ssize_t n = ::pread(fd_, buf.data(), std::min(buf.size(), budget), static_cast<off_t>(offset_));
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

bool Tailer::read_available(const Sink& sink, std::size_t budget) {
  struct stat path_st {};
  const bool at_path = ::stat(path_.c_str(), &path_st) == 0;
  const FileId path_id{static_cast<std::uint64_t>(path_st.st_dev), static_cast<std::uint64_t>(path_st.st_ino)};

  if (fd_ >= 0 && (!at_path || !(path_id == id_))) {
    // Rotated or deleted: finish the old file through our descriptor first.
    if (drain(sink, budget)) return true;
    close_fd();
    ++rotations_;
  }
  if (fd_ < 0) {
    if (!at_path) return false;
    fd_ = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) {
      if (errno != ENOENT) {
        ++errors_;
        last_error_ = std::string("open: ") + std::strerror(errno);
      }
      return false;
    }
    struct stat st {};
    ::fstat(fd_, &st);
    id_ = FileId{static_cast<std::uint64_t>(st.st_dev), static_cast<std::uint64_t>(st.st_ino)};
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
