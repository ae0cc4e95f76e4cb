#pragma once
// Every message medic publishes goes out through here, in order: journaled first (which
// gives it its seq), then sent to the socket's subscribers. A message the journal cannot
// take (a full disk) waits, with every later one, and is tried again each second: nothing
// is published without its journal line, and nothing is dropped while medic runs.
// Taken out of the daemon (issue 13).
// Ownership: borrows the journal and the publisher (set once the socket is open).
// Thread: the loop thread.

#include <uv.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <string>

#include "loop/uv_handle.h"
#include "publish/journal.h"
#include "publish/unix_socket_publisher.h"

namespace medic::publish {

class Outbox {
 public:
  using Render = std::function<std::string(std::uint64_t seq)>;

  /// `retry_timer`: an initialised timer for the retries.
  Outbox(Journal& journal, loop::UvHandle<uv_timer_t> retry_timer);
  Outbox(const Outbox&) = delete;
  Outbox& operator=(const Outbox&) = delete;

  /// Where journaled lines are sent (null: journaled only, replayed to clients later).
  void set_publisher(UnixSocketPublisher* publisher) { publisher_ = publisher; }
  /// Journals and sends `render`'s message after every one still waiting.
  void publish(Render render);
  /// Tries the waiting messages again now (at the stop); returns how many still wait.
  std::size_t flush();
  std::size_t waiting() const { return waiting_.size(); }
  std::uint64_t journal_failures() const { return journal_failures_; }
  void stop() { retry_.reset(); }

 private:
  Journal& journal_;
  loop::UvHandle<uv_timer_t> retry_;
  UnixSocketPublisher* publisher_ = nullptr;
  std::deque<Render> waiting_;
  std::uint64_t journal_failures_ = 0;
};

}  // namespace medic::publish
