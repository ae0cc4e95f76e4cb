#pragma once
// Serves the decision stream on a Unix stream socket (DESIGN.md §6): NDJSON, a `hello`
// on connect, every new message live, and `{"op":"subscribe","since":N}` replays the
// journal after N first. Each client has a bounded queue (bytes handed to libuv and not
// yet written); a client over it gets a final `error` line and is cut off, so a slow
// reader never grows the daemon's memory and reconnects with `since` to lose nothing.
// Only peers with the daemon's uid, or in its group, are served (SO_PEERCRED).
// Thread: the loop thread.

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include "core/result.h"
#include "loop/uv_handle.h"
#include "publish/journal.h"

namespace medic::publish {

struct PublisherOptions {
  std::size_t max_client_queue_bytes = 4u << 20;
  unsigned mode = 0660;
};

class UnixSocketPublisher {
 public:
  struct Client;  // public for the write-completion callback; defined in the .cpp

  [[nodiscard]] static core::Result<std::unique_ptr<UnixSocketPublisher>> create(uv_loop_t* loop,
                                                                                 const std::string& path,
                                                                                 Journal& journal,
                                                                                 PublisherOptions options,
                                                                                 std::function<std::string()> hello);
  ~UnixSocketPublisher();

  /// Sends one message line to every live client. The line must be the journal's last
  /// (its seq is journal.last_seq()).
  void publish(const std::string& line);
  /// Sends `line` to one client (an empty line only advances a paced replay).
  void send(Client& c, const std::string& line);
  void close();

  std::size_t clients() const { return clients_.size(); }
  std::uint64_t cut_off() const { return cut_off_; }
  std::uint64_t refused() const { return refused_; }

 private:
  UnixSocketPublisher(uv_loop_t* loop, Journal& journal, PublisherOptions options);
  static void on_connection(uv_stream_t* server, int status);
  void drop(Client& c);
  void handle_line(Client& c, std::string_view line);

  uv_loop_t* loop_;
  Journal& journal_;
  PublisherOptions options_;
  std::string path_;
  loop::UvHandle<uv_pipe_t> server_;
  std::list<std::unique_ptr<Client>> clients_;
  std::function<std::string()> hello_;
  std::uint64_t cut_off_ = 0;
  std::uint64_t refused_ = 0;
};

}  // namespace medic::publish
