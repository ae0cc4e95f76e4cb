#include "publish/journal.h"

#include <fcntl.h>
#include <unistd.h>

#include <simdjson.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace medic::publish {

Journal::Journal(Journal&& o) noexcept
    : path_(std::move(o.path_)),
      fd_(std::exchange(o.fd_, -1)),
      first_seq_(o.first_seq_),
      lines_(std::move(o.lines_)),
      decided_(std::move(o.decided_)),
      dirty_(o.dirty_) {}

Journal& Journal::operator=(Journal&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    path_ = std::move(o.path_);
    fd_ = std::exchange(o.fd_, -1);
    first_seq_ = o.first_seq_;
    lines_ = std::move(o.lines_);
    decided_ = std::move(o.decided_);
    dirty_ = o.dirty_;
  }
  return *this;
}

Journal::~Journal() {
  if (fd_ >= 0) {
    sync();
    ::close(fd_);
  }
}

core::Result<Journal> Journal::open(const std::string& path) {
  Journal j;
  j.path_ = path;
  // Rebuild the index. A torn last line (medic killed mid-write) is dropped and
  // truncated away, so seq stays gap-free.
  std::ifstream in(path, std::ios::binary);
  std::string line;
  std::uint64_t good_bytes = 0;
  simdjson::dom::parser parser;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // no trailing newline: torn
    simdjson::dom::element doc;
    std::uint64_t seq = 0;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS || doc["seq"].get_uint64().get(seq) != simdjson::SUCCESS) {
      return core::fail(core::ErrorCode::Parse, path + ": corrupt journal line " + std::to_string(j.lines_.size() + 1));
    }
    if (j.lines_.empty()) j.first_seq_ = seq;
    if (seq != j.first_seq_ + j.lines_.size()) {
      return core::fail(core::ErrorCode::Parse, path + ": seq " + std::to_string(seq) + " breaks the sequence");
    }
    std::string_view type;
    std::string_view id;
    std::string_view action;
    if (doc["type"].get_string().get(type) == simdjson::SUCCESS && type == "decision" &&
        doc["id"].get_string().get(id) == simdjson::SUCCESS) {
      if (doc["action"].get_string().get(action) != simdjson::SUCCESS) action = {};
      j.decided_[std::string(id)] = std::string(action);
    }
    good_bytes += line.size() + 1;
    j.lines_.push_back(line);
  }
  j.fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (j.fd_ < 0) return core::fail(core::ErrorCode::Io, path + ": " + std::strerror(errno));
  if (::ftruncate(j.fd_, static_cast<off_t>(good_bytes)) != 0) {
    return core::fail(core::ErrorCode::Io, path + ": truncate: " + std::strerror(errno));
  }
  if (j.lines_.empty()) j.first_seq_ = 1;
  return j;
}

core::Result<std::string> Journal::append(const std::function<std::string(std::uint64_t)>& render) {
  const std::uint64_t seq = lines_.empty() ? first_seq_ : last_seq() + 1;
  std::string line = render(seq);
  std::string out = line + "\n";
  const char* p = out.data();
  std::size_t left = out.size();
  while (left > 0) {
    const ssize_t n = ::write(fd_, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::fail(core::ErrorCode::Io, path_ + ": write: " + std::strerror(errno));
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  lines_.push_back(line);
  dirty_ = true;
  return line;
}

void Journal::replay(std::uint64_t since, const std::function<void(const std::string&)>& out) const {
  if (lines_.empty()) return;
  std::uint64_t start = since < first_seq_ ? 0 : since - first_seq_ + 1;
  for (std::uint64_t i = start; i < lines_.size(); ++i) out(lines_[i]);
}

void Journal::sync() {
  if (dirty_ && fd_ >= 0) ::fdatasync(fd_);
  dirty_ = false;
}

}  // namespace medic::publish
