#include "loop/async_child.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

extern char** environ;

namespace medic::loop {

// Each libuv handle of a child is heap-allocated and freed in its own close callback
// (libuv touches a handle until then); the Child counts the closes it still waits for.
struct AsyncChildRunner::Child {
  AsyncChildRunner* owner = nullptr;
  uv_process_t* proc = nullptr;
  uv_pipe_t* out = nullptr;
  uv_timer_t* timer = nullptr;
  Done done;
  ChildOutcome outcome;
  bool exited = false;
  bool eof = false;
  bool term_sent = false;
  int open_handles = 0;
  bool finished = false;
};

namespace {

void close_and_count(uv_handle_t* h) {
  if (!h || uv_is_closing(h)) return;
  uv_close(h, [](uv_handle_t* x) {
    auto* c = static_cast<AsyncChildRunner::Child*>(x->data);
    switch (x->type) {
      case UV_PROCESS:
        delete reinterpret_cast<uv_process_t*>(x);
        break;
      case UV_NAMED_PIPE:
        delete reinterpret_cast<uv_pipe_t*>(x);
        break;
      case UV_TIMER:
        delete reinterpret_cast<uv_timer_t*>(x);
        break;
      default:
        break;
    }
    if (c && --c->open_handles == 0) delete c;
  });
}

}  // namespace

AsyncChildRunner::~AsyncChildRunner() {
  for (Child* raw : children_) {
    if (raw->proc && !raw->exited) uv_process_kill(raw->proc, SIGKILL);
    raw->done = nullptr;
    raw->finished = true;
    close_and_count(reinterpret_cast<uv_handle_t*>(raw->proc));
    close_and_count(reinterpret_cast<uv_handle_t*>(raw->out));
    close_and_count(reinterpret_cast<uv_handle_t*>(raw->timer));
    if (raw->open_handles == 0) delete raw;
  }
  children_.clear();
}

void AsyncChildRunner::finish(Child* c) {
  if (c->finished || !c->exited || !c->eof) return;
  c->finished = true;
  while (!c->outcome.output.empty() && (c->outcome.output.back() == '\n' || c->outcome.output.back() == '\r'))
    c->outcome.output.pop_back();
  Done done = std::move(c->done);
  ChildOutcome outcome = std::move(c->outcome);
  // The Child's memory now belongs to its handles' close callbacks.
  children_.remove(c);
  close_and_count(reinterpret_cast<uv_handle_t*>(c->proc));
  close_and_count(reinterpret_cast<uv_handle_t*>(c->out));
  close_and_count(reinterpret_cast<uv_handle_t*>(c->timer));
  if (done) done(std::move(outcome));
}

void AsyncChildRunner::run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                           std::chrono::milliseconds limit, Done done) {
  auto* c = new Child{};
  c->owner = this;
  c->done = std::move(done);
  children_.push_back(c);

  std::vector<std::string> env_store;
  for (char** e = environ; *e; ++e) {
    const char* eq = std::strchr(*e, '=');
    const std::size_t name_len = eq ? static_cast<std::size_t>(eq - *e) + 1 : std::strlen(*e);
    bool replaced = false;
    for (const auto& o : env) replaced = replaced || o.compare(0, name_len, *e, name_len) == 0;
    if (!replaced) env_store.emplace_back(*e);
  }
  for (const auto& o : env) env_store.push_back(o);
  std::vector<char*> envp;
  envp.reserve(env_store.size() + 1);
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> argp;
  argp.reserve(args.size() + 1);
  for (auto& a : args) argp.push_back(a.data());
  argp.push_back(nullptr);

  c->out = new uv_pipe_t{};
  uv_pipe_init(loop_, c->out, 0);
  c->out->data = c;
  ++c->open_handles;
  c->timer = new uv_timer_t{};
  uv_timer_init(loop_, c->timer);
  c->timer->data = c;
  ++c->open_handles;

  // One pipe for both stdout and stderr, as a terminal would interleave them: the child
  // gets the write end twice, the loop reads the other.
  uv_file fds[2] = {-1, -1};
  if (int rc = uv_pipe(fds, 0, 0); rc != 0 || uv_pipe_open(c->out, fds[0]) != 0) {
    if (fds[0] >= 0) ::close(fds[0]);
    if (fds[1] >= 0) ::close(fds[1]);
    c->outcome.exit_code = 127;
    c->outcome.output = std::string("cannot make a pipe: ") + uv_strerror(rc);
    c->exited = true;
    c->eof = true;
    uv_timer_start(
        c->timer, [](uv_timer_t* t) { static_cast<Child*>(t->data)->owner->finish(static_cast<Child*>(t->data)); }, 0,
        0);
    return;
  }
  uv_stdio_container_t stdio[3];
  stdio[0].flags = UV_IGNORE;
  stdio[1].flags = UV_INHERIT_FD;
  stdio[1].data.fd = fds[1];
  stdio[2].flags = UV_INHERIT_FD;
  stdio[2].data.fd = fds[1];
  uv_process_options_t opts{};
  opts.file = argp[0];
  opts.args = argp.data();
  opts.env = envp.data();
  opts.stdio = stdio;
  opts.stdio_count = 3;
  opts.exit_cb = [](uv_process_t* p, int64_t status, int term_signal) {
    auto* ch = static_cast<Child*>(p->data);
    ch->exited = true;
    ch->outcome.exit_code = term_signal ? 128 + term_signal : static_cast<int>(status);
    uv_timer_stop(ch->timer);
    ch->owner->finish(ch);
  };
  c->proc = new uv_process_t{};
  c->proc->data = c;
  const int rc = uv_spawn(loop_, c->proc, &opts);
  ::close(fds[1]);  // the child's copies keep the pipe open until it exits
  if (rc != 0) {
    // No process: the callback still comes, from the loop, with 127.
    delete c->proc;
    c->proc = nullptr;
    c->outcome.exit_code = 127;
    c->outcome.output = "cannot run " + argv.at(0) + ": " + uv_strerror(rc);
    c->exited = true;
    c->eof = true;
    uv_timer_start(
        c->timer, [](uv_timer_t* t) { static_cast<Child*>(t->data)->owner->finish(static_cast<Child*>(t->data)); }, 0,
        0);
    return;
  }
  ++c->open_handles;
  uv_read_start(
      reinterpret_cast<uv_stream_t*>(c->out),
      [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
        buf->base = new char[suggested];
        buf->len = suggested;
      },
      [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
        auto* ch = static_cast<Child*>(s->data);
        if (n > 0 && ch->outcome.output.size() < (1u << 20))
          ch->outcome.output.append(buf->base, static_cast<std::size_t>(n));
        delete[] buf->base;
        if (n < 0) {
          uv_read_stop(s);
          ch->eof = true;
          ch->owner->finish(ch);
        }
      });
  uv_timer_start(
      c->timer,
      [](uv_timer_t* t) {
        auto* ch = static_cast<Child*>(t->data);
        if (ch->exited || !ch->proc) return;
        if (!ch->term_sent) {
          ch->term_sent = true;
          ch->outcome.timed_out = true;
          uv_process_kill(ch->proc, SIGTERM);
          uv_timer_start(t, t->timer_cb, 5000, 0);  // then SIGKILL
        } else {
          uv_process_kill(ch->proc, SIGKILL);
        }
      },
      static_cast<std::uint64_t>(limit.count()), 0);
}

}  // namespace medic::loop
