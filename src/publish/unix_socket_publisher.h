#pragma once
// Serves the decision stream on a Unix stream socket (DESIGN.md §6): NDJSON, a `hello`
// on connect, every new message live, and `{"op":"subscribe","since":N}` replays the
// journal after N first. Each client has a bounded queue (bytes handed to libuv and not
// yet written); a client over it gets a final `error` line and is cut off, so a slow
// reader never grows the daemon's memory and reconnects with `since` to lose nothing.
// Only peers with the daemon's uid, or in its group, are served (SO_PEERCRED).
// Thread: the loop thread.

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "core/result.h"
#include "loop/uv_handle.h"
#include "publish/journal.h"

namespace medic::publish {

/// A client's request, validated: `{"op":"subscribe","since":N}` with first_seq - 1 <= N <=
/// last_seq (since defaults to 0); any other key, type or value is refused with a reason,
/// and a since older than the journal keeps names the oldest seq kept.
struct Request {
  std::uint64_t since = 0;
};
[[nodiscard]] core::Result<Request> parse_request(std::string_view line, std::uint64_t first_seq,
                                                  std::uint64_t last_seq);

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
  std::uint64_t bad_requests() const { return bad_requests_; }
  /// Subscribers dropped because their socket refused a write.
  std::uint64_t write_errors() const { return write_errors_; }

 private:
  UnixSocketPublisher(uv_loop_t* loop, Journal& journal, PublisherOptions options);
  static void on_connection(uv_stream_t* server, int status);
  void drop(Client& c);
  void cut(Client& c, const std::string& last_line);
  void broken(Client& c);                        // a write refused at once: dropped soon
  void drop_after(Client& c, std::uint64_t ms);  // from a timer, never inside a loop over clients
  void handle_line(Client& c, std::string_view line);
  void release(Client& c);  // a client that sent no subscribe within the grace goes live

  uv_loop_t* loop_;
  Journal& journal_;
  PublisherOptions options_;
  std::string path_;
  loop::UvHandle<uv_pipe_t> server_;
  std::list<std::unique_ptr<Client>> clients_;
  std::function<std::string()> hello_;
  std::uint64_t cut_off_ = 0;
  std::uint64_t refused_ = 0;
  std::uint64_t requests_ = 0;
  std::uint64_t bad_requests_ = 0;
  std::uint64_t write_errors_ = 0;
  struct SocketId {
    dev_t dev = 0;
    ino_t ino = 0;
  };
  SocketId bound_;  // the socket file this publisher created (removed at close if still ours)
};

}  // namespace medic::publish
