#pragma once
// The durable decision journal: one NDJSON message per line, each with a `seq` one more
// than the line before, across restarts. Subscribers replay from it (`since`), and the
// daemon rebuilds from it which runs were already decided, so a restart never repeats
// a decision. Lines are written with write() at once (a crash of medic loses nothing);
// fdatasync is batched by the caller (sync()) to keep it off the exit-to-decision path.
// Thread: the loop thread.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/result.h"

namespace medic::publish {

class Journal {
 public:
  [[nodiscard]] static core::Result<Journal> open(const std::string& path);
  Journal(Journal&&) noexcept;
  Journal& operator=(Journal&&) noexcept;
  ~Journal();

  /// Renders the next message with its seq and appends it; returns the line (no '\n').
  [[nodiscard]] core::Result<std::string> append(const std::function<std::string(std::uint64_t seq)>& render);
  /// Calls `out` for every line with seq > since, in order.
  void replay(std::uint64_t since, const std::function<void(const std::string&)>& out) const;
  void sync();

  std::uint64_t last_seq() const { return first_seq_ + lines_.size() - 1; }
  /// Decision ids already in the journal, with their action.
  const std::map<std::string, std::string>& decided() const { return decided_; }
  void note_decided(const std::string& id, const std::string& action) { decided_[id] = action; }

 private:
  Journal() = default;

  std::string path_;
  int fd_ = -1;
  std::uint64_t first_seq_ = 1;
  std::vector<std::string> lines_;  // index i holds seq first_seq_ + i
  std::map<std::string, std::string> decided_;
  bool dirty_ = false;
};

}  // namespace medic::publish
