#include "publish/unix_socket_publisher.h"

#include <spdlog/spdlog.h>

#include "loop/handles.h"

#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include <simdjson.h>

#include <cstring>
#include <vector>

#include "core/json_writer.h"

namespace medic::publish {

struct UnixSocketPublisher::Client {
  UnixSocketPublisher* owner = nullptr;
  loop::UvHandle<uv_pipe_t> pipe;
  std::string inbuf;
  std::size_t pending_bytes = 0;  // handed to libuv, not yet written
  bool replaying = false;
  std::uint64_t replay_next = 0;  // next seq to replay
  bool subscribed = false;
  // Just connected: its subscribe line may be on the way. Lines published meanwhile are
  // not sent live (they are in the journal): the subscribe replays them in seq order, or,
  // when none comes within kSubscribeGraceMs, the client gets them from where it
  // connected, then live. Sending them live at once put them ahead of an older seq the
  // subscribe then replayed, and a client that keeps the highest seq seen lost that one.
  bool held = true;
  loop::UvHandle<uv_timer_t> grace;
  bool dead = false;
};

namespace {
constexpr std::uint64_t kSubscribeGraceMs = 500;
constexpr std::uint64_t kDrainMs = 2000;  // a cut-off client's last writes
// A replay hands libuv journal lines in writes of about this size, and reads at most
// kReplayRoundBytes per turn of the loop, so a live decision waits for one round at most.
constexpr std::size_t kReplayBatchBytes = 16u << 10;
constexpr std::size_t kReplayRoundBytes = 64u << 10;
}  // namespace

namespace {

struct WriteReq {
  uv_write_t req;
  std::string data;
};

// Peers with our uid, root, or in our group (primary or supplementary) are served.
bool peer_allowed(int fd) {
  struct ucred cred {};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return false;
  if (cred.uid == geteuid() || cred.uid == 0 || cred.gid == getegid()) return true;
  struct passwd* pw = getpwuid(cred.uid);
  if (!pw) return false;
  int n = 64;
  std::vector<gid_t> groups(static_cast<std::size_t>(n));
  if (getgrouplist(pw->pw_name, pw->pw_gid, groups.data(), &n) < 0) return false;
  for (int i = 0; i < n; ++i) {
    if (groups[static_cast<std::size_t>(i)] == getegid()) return true;
  }
  return false;
}

// Hands one line to libuv for `pipe`, counting it against `pending` until written; when
// the write completes and the client is replaying, the replay continues from there.
bool enqueue(uv_pipe_t* pipe, std::size_t& pending, std::string line);

}  // namespace

core::Result<Request> parse_request(std::string_view line, std::uint64_t first_seq, std::uint64_t last_seq) {
  static const char* const kUsage = "send {\"op\":\"subscribe\",\"since\":N}";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(obj) != simdjson::SUCCESS)
    return core::fail(core::ErrorCode::Parse, std::string("not a JSON object; ") + kUsage);
  Request r;
  bool have_op = false;
  for (auto [key, value] : obj) {
    if (key == "op") {
      std::string_view op;
      if (value.get_string().get(op) != simdjson::SUCCESS || op != "subscribe")
        return core::fail(core::ErrorCode::InvalidArgument, std::string("unknown op; ") + kUsage);
      have_op = true;
    } else if (key == "since") {
      std::uint64_t since = 0;
      if (value.get_uint64().get(since) != simdjson::SUCCESS)
        return core::fail(core::ErrorCode::InvalidArgument, "since must be a non-negative integer");
      if (since > last_seq) {
        return core::fail(core::ErrorCode::InvalidArgument,
                          "since " + std::to_string(since) + " is beyond the last seq " + std::to_string(last_seq));
      }
      if (since + 1 < first_seq) {
        return core::fail(core::ErrorCode::NotFound, "since " + std::to_string(since) +
                                                         " is older than the journal keeps; the oldest seq kept is " +
                                                         std::to_string(first_seq));
      }
      r.since = since;
    } else {
      return core::fail(core::ErrorCode::InvalidArgument, "unknown key '" + std::string(key) + "'; " + kUsage);
    }
  }
  if (!have_op) return core::fail(core::ErrorCode::InvalidArgument, std::string("no op; ") + kUsage);
  return r;
}

namespace {

std::string error_line(std::string_view reason) {
  std::string out;
  core::JsonWriter w(out);
  w.begin_object().key("type").value("error").key("reason").value(reason).end_object();
  return out;
}

}  // namespace

core::Result<std::unique_ptr<UnixSocketPublisher>> UnixSocketPublisher::create(uv_loop_t* loop, const std::string& path,
                                                                               Journal& journal,
                                                                               PublisherOptions options,
                                                                               std::function<std::string()> hello) {
  // libuv 1.44 silently truncates longer paths (reference/deps.md), binding elsewhere.
  if (path.size() >= 108) {
    return core::fail(core::ErrorCode::InvalidArgument,
                      "socket path is " + std::to_string(path.size()) + " bytes, the limit is 107: " + path);
  }
  std::unique_ptr<UnixSocketPublisher> p(new UnixSocketPublisher(loop, journal, options));
  p->hello_ = std::move(hello);
  p->path_ = path;
  p->server_ = loop::UvHandle<uv_pipe_t>(p.get());
  if (int rc = uv_pipe_init(loop, p->server_.get(), 0); rc != 0) {
    return core::fail(core::ErrorCode::Io, "uv_pipe_init: " + std::string(uv_strerror(rc)));
  }
  p->server_.mark_initialized();
  // What is at the path now: nothing; a socket nobody answers on (a previous run's, left by
  // a crash), which is replaced; a live socket (another daemon), never taken over; or
  // anything else (a file, a directory, a link), never deleted.
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) {
      return core::fail(core::ErrorCode::InvalidArgument,
                        path +
                            " exists and is not a socket; medic does not remove it: move it away or choose "
                            "another --socket");
    }
    const int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const bool live = probe >= 0 && ::connect(probe, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    if (probe >= 0) ::close(probe);
    if (live) {
      return core::fail(core::ErrorCode::InvalidArgument,
                        path + ": another process is serving on this socket (a running medic?); not taken over");
    }
    ::unlink(path.c_str());  // a stale socket from a previous run
  }
  if (int rc = uv_pipe_bind(p->server_.get(), path.c_str()); rc != 0) {
    return core::fail(core::ErrorCode::Io, path + ": bind: " + uv_strerror(rc));
  }
  if (::lstat(path.c_str(), &st) == 0) p->bound_ = SocketId{st.st_dev, st.st_ino};
  ::chmod(path.c_str(), options.mode);
  if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(p->server_.get()), 64, &on_connection); rc != 0) {
    return core::fail(core::ErrorCode::Io, path + ": listen: " + uv_strerror(rc));
  }
  return p;
}

UnixSocketPublisher::UnixSocketPublisher(uv_loop_t* loop, Journal& journal, PublisherOptions options)
    : loop_(loop), journal_(journal), options_(options) {}

UnixSocketPublisher::~UnixSocketPublisher() { close(); }

void UnixSocketPublisher::close() {
  for (auto& c : clients_) {
    if (c->pipe) c->pipe.get()->data = nullptr;
  }
  clients_.clear();
  if (server_) {
    server_.reset();
    // Only our own socket: a successor's at the same path is left alone.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == bound_.dev && st.st_ino == bound_.ino)
      ::unlink(path_.c_str());
  }
}

void UnixSocketPublisher::on_connection(uv_stream_t* server, int status) {
  auto* self = static_cast<UnixSocketPublisher*>(server->data);
  if (status < 0) return;
  auto c = std::make_unique<Client>();
  c->owner = self;
  auto pipe = loop::make_pipe(self->loop_, c.get());
  if (!pipe) {
    ++self->cut_off_;  // a subscriber libuv gave no handle for: cut off at once
    return;
  }
  c->pipe = std::move(*pipe);
  if (uv_accept(server, reinterpret_cast<uv_stream_t*>(c->pipe.get())) != 0) return;
  uv_os_fd_t fd = -1;
  if (uv_fileno(c->pipe.handle(), &fd) != 0 || !peer_allowed(fd)) {
    ++self->refused_;
    return;  // the UvHandle closes it
  }
  Client& ref = *c;
  ref.replay_next = self->journal_.last_seq() + 1;  // what a client that never subscribes gets
  if (auto grace = loop::make_timer(self->loop_, &ref)) {
    ref.grace = std::move(*grace);
    loop::arm(
        ref.grace,
        [](uv_timer_t* t) {
          auto* cl = static_cast<Client*>(t->data);
          if (cl->held) cl->owner->release(*cl);
        },
        kSubscribeGraceMs, 0, "subscribe grace");
  } else {
    ref.held = false;  // no timer: live from now, as before
  }
  self->clients_.push_back(std::move(c));
  const int reading = uv_read_start(
      reinterpret_cast<uv_stream_t*>(ref.pipe.get()),
      [](uv_handle_t*, size_t, uv_buf_t* buf) {
        static char slab[4096];  // the loop is single-threaded and reads complete at once
        *buf = uv_buf_init(slab, sizeof slab);
      },
      [](uv_stream_t* stream, ssize_t n, const uv_buf_t* buf) {
        auto* cl = static_cast<Client*>(stream->data);
        if (!cl) return;
        if (n < 0) {
          cl->owner->drop(*cl);
          return;
        }
        cl->inbuf.append(buf->base, static_cast<std::size_t>(n));
        if (cl->inbuf.size() > 64 * 1024) {
          cl->owner->drop(*cl);  // nobody sends 64 KiB of requests
          return;
        }
        std::size_t nl;
        while (!cl->dead && (nl = cl->inbuf.find('\n')) != std::string::npos) {
          std::string line = cl->inbuf.substr(0, nl);
          cl->inbuf.erase(0, nl + 1);
          cl->owner->handle_line(*cl, line);
        }
      });
  if (reading != 0) {
    spdlog::warn("subscriber dropped: uv_read_start: {}", uv_strerror(reading));
    self->drop(ref);
    return;
  }
  self->send(ref, self->hello_());
}

// No subscribe came: the lines published since the client connected, then live. They go
// the live way (not a paced replay), so a client that does not read is cut off as any
// live client is; the budget lets the queue bound, not the read, decide.
void UnixSocketPublisher::release(Client& c) {
  c.held = false;
  if (c.replay_next > journal_.last_seq()) return;
  auto r = journal_.read(c.replay_next - 1, 2 * options_.max_client_queue_bytes + 1,
                         [&](std::string_view l) { send(c, std::string(l)); });
  if (!r) send(c, error_line(r.error().message));
}

void UnixSocketPublisher::handle_line(Client& c, std::string_view line) {
  ++requests_;
  auto req = parse_request(line, journal_.first_seq(), journal_.last_seq());
  if (!req) {
    ++bad_requests_;
    send(c, error_line(req.error().message));
    return;
  }
  if (c.subscribed) {
    send(c, error_line("already subscribed; reconnect to subscribe again"));
    return;
  }
  if (!c.held) {
    // Live lines went out already (no subscribe came within the grace): a replay now would
    // put older seqs after newer ones.
    send(c, error_line("subscribe must be the first line, sent on connecting; reconnect and send it first"));
    return;
  }
  c.subscribed = true;
  c.held = false;
  c.grace.reset();
  c.replaying = true;
  c.replay_next = req->since + 1;
  send(c, std::string());  // kicks the paced replay
}

void UnixSocketPublisher::send(Client& c, const std::string& line) {
  if (c.dead) return;
  // Paced replay: hand libuv journal lines, read from disk in order, while the queue is
  // under half its bound; write completions call back here for more. Each round reads
  // only what fits, so a client far behind costs O(lines sent), and others are served
  // between its rounds. (A round that read nothing replayable queued no write and so
  // schedules none: it never spins.)
  if (c.replaying) {
    // One round per call: each write's completion calls back for the next, and the loop
    // serves live decisions and other clients in between.
    if (c.pending_bytes < options_.max_client_queue_bytes / 2 && c.replay_next <= journal_.last_seq()) {
      // Lines go out in batches of about kReplayBatchBytes, one write each: a write per
      // line cost a syscall per decision and held the loop for tens of ms per round.
      std::string batch;
      bool written = true;
      auto r = journal_.read(c.replay_next - 1,
                             std::min(kReplayRoundBytes, options_.max_client_queue_bytes / 2 - c.pending_bytes),
                             [&](std::string_view l) {
                               ++c.replay_next;
                               batch.append(l).push_back('\n');
                               if (batch.size() >= kReplayBatchBytes && written)
                                 written = enqueue(c.pipe.get(), c.pending_bytes, std::exchange(batch, std::string()));
                             });
      if (!batch.empty() && written) written = enqueue(c.pipe.get(), c.pending_bytes, std::move(batch));
      if (!written) {
        broken(c);
        return;
      }
      if (!r) {
        // Retention dropped what this client still needed: say so, and let it reconnect.
        c.replaying = false;
        cut(c, error_line(r.error().message));
        return;
      }
    }
    if (c.replay_next > journal_.last_seq()) c.replaying = false;  // caught up: live from now
    if (line.empty()) return;
  }
  if (line.empty()) return;
  if (c.pending_bytes + line.size() > options_.max_client_queue_bytes) {
    // Too slow: stop queueing, say why, and let the client reconnect with `since`.
    ++cut_off_;
    cut(c, error_line("client too slow: queue over " + std::to_string(options_.max_client_queue_bytes) +
                      " bytes; reconnect and subscribe with since"));
    return;
  }
  if (!enqueue(c.pipe.get(), c.pending_bytes, line + "\n")) broken(c);
}

namespace {

// False when libuv refuses the write at once (the stream is closing or broken): nothing
// was queued, and no callback will come.
bool enqueue(uv_pipe_t* pipe, std::size_t& pending, std::string line) {
  auto* req = new WriteReq{};
  req->data = std::move(line);
  pending += req->data.size();
  uv_buf_t b = uv_buf_init(req->data.data(), static_cast<unsigned>(req->data.size()));
  const int rc = uv_write(&req->req, reinterpret_cast<uv_stream_t*>(pipe), &b, 1, [](uv_write_t* r, int) {
    auto* wr = reinterpret_cast<WriteReq*>(r);
    // data is null once the client was dropped; the pipe's memory lives until its close
    // callback, which libuv runs after this one.
    if (auto* cl = static_cast<UnixSocketPublisher::Client*>(r->handle->data)) {
      cl->pending_bytes -= wr->data.size();
      if (cl->replaying) cl->owner->send(*cl, std::string());
    }
    delete wr;
  });
  if (rc == 0) return true;
  pending -= req->data.size();
  delete req;
  return false;
}

}  // namespace

void UnixSocketPublisher::publish(const std::string& line) {
  for (auto& c : clients_) {
    if (c->dead || c->held) continue;  // a held client gets it from the journal, in order
    if (c->replaying) {
      send(*c, std::string());  // the line is in the journal; the replay will reach it
    } else {
      send(*c, line);
    }
  }
}

// The last line a client gets, then the end of the connection: when what was queued is
// written (the shutdown), or after kDrainMs whatever it has read, so a client that reads
// nothing holds neither its queue nor its descriptor.
void UnixSocketPublisher::cut(Client& c, const std::string& last_line) {
  c.dead = true;
  (void)enqueue(c.pipe.get(), c.pending_bytes, last_line + "\n");  // a broken stream is dropped all the same
  auto* sd = new uv_shutdown_t{};
  if (uv_shutdown(sd, reinterpret_cast<uv_stream_t*>(c.pipe.get()), [](uv_shutdown_t* s, int) {
        auto* cl = static_cast<Client*>(s->handle->data);
        delete s;
        if (cl) cl->owner->drop(*cl);
      }) != 0) {
    delete sd;
  }
  drop_after(c, kDrainMs);
}

// A write libuv refused at once: the client cannot be served. It is dropped from a timer,
// never inside a loop over the clients.
void UnixSocketPublisher::broken(Client& c) {
  if (c.dead) return;
  c.dead = true;
  ++write_errors_;
  spdlog::warn("subscriber dropped: its socket refused a write (write_errors={})", write_errors_);
  drop_after(c, 0);
}

void UnixSocketPublisher::drop_after(Client& c, std::uint64_t ms) {
  if (!c.grace) {
    // (the subscribe grace's timer is gone by now; one for the drain)
    if (auto t = loop::make_timer(loop_, &c)) c.grace = std::move(*t);
  }
  if (c.grace && !uv_is_closing(c.grace.handle())) {
    loop::arm(
        c.grace, [](uv_timer_t* t) { static_cast<Client*>(t->data)->owner->drop(*static_cast<Client*>(t->data)); }, ms,
        0, "subscriber drop");
  }
}

void UnixSocketPublisher::drop(Client& c) {
  c.dead = true;
  if (c.pipe) c.pipe.get()->data = nullptr;  // pending write callbacks must not touch it
  clients_.remove_if([&](const std::unique_ptr<Client>& p) { return p.get() == &c; });
}

}  // namespace medic::publish
