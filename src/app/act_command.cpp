#include "app/act_command.h"
#include "core/text.h"

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <cstdio>
#include <ctime>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "app/child_process.h"
#include "act/hermes_command.h"
#include "app/config.h"
#include "artifacts/acceptance.h"
#include "core/ids.h"
#include "core/json_writer.h"
#include "loop/uv_handle.h"
#include "report/state_report.h"

namespace medic::app {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxApplied = 20000;  // ids remembered for idempotence

std::int64_t now_s() { return core::SystemClock().now(); }

// What act needs from one decision line.
struct Decision {
  std::uint64_t seq = 0;
  std::string id;
  std::string task;
  std::string board = "default";
  std::string workspace;
  std::string failure_class;
  std::string action;
  std::int64_t retry_at = 0;
  std::string use_provider;
  std::vector<std::string> missing;
  std::string reason;
  std::string next_command;
  std::string exit_event;
  std::string assignee;
};

// An `unblock` act holds for a decision's retry_at.
struct Timer {
  std::string decision_id;
  std::string board;
  std::string task;
  std::string workspace;
  std::int64_t at = 0;
  loop::UvHandle<uv_timer_t> handle;  // armed while act runs; its data is this Timer
};

std::string str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

std::int64_t num(simdjson::dom::element e, const char* key) {
  std::int64_t v = 0;
  if (e[key].get_int64().get(v) == simdjson::SUCCESS) return v;
  double d = 0;
  return e[key].get_double().get(d) == simdjson::SUCCESS ? static_cast<std::int64_t>(d) : 0;
}

// Hermes's block kinds (reference §1): what a person must supply, what the provider
// lacks, or a passing condition.
std::string block_kind(const std::string& cls) {
  if (cls == "quota_exhausted" || cls == "auth_region") return "capability";
  if (cls.empty() || cls == "protocol_violation" || cls == "context_length") return "needs_input";
  return "transient";
}

std::string clip(const std::string& s, std::size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }

std::string last_line(const std::string& s) {
  const std::size_t nl = s.rfind('\n');
  return clip(nl == std::string::npos ? s : s.substr(nl + 1), 200);
}

class Actor {
 public:
  explicit Actor(const cli::ActOptions& o)
      : socket_(o.socket ? *o.socket : default_socket_path()),
        hermes_(o.hermes),
        dry_run_(o.dry_run),
        state_dir_(o.state_dir ? *o.state_dir : default_state_dir()),
        since_(o.since),
        profile_home_(o.profile_home) {}

  int run();

 private:
  void connect();
  void schedule_reconnect();
  void on_line(std::string_view line);
  void apply(const Decision& d);
  void repair_auth(const Decision& d);
  void arm(Timer& t);
  void fire(const std::string& decision_id);
  // Runs `hermes kanban --board B <args…>`, logs it and records it for the reports.
  ChildResult hermes(const Decision& d, const act::HermesCommand& c);
  ChildResult hermes_for(const std::string& decision_id, const std::string& board, const std::string& task,
                         const act::HermesCommand& c);
  std::string task_status(const Decision& d);
  void flush_reports(const std::string& board, const std::string& workspace);
  void load_state();
  void save_state();
  std::string state_path() const { return state_dir_ + "/act.json"; }

  std::string socket_;
  std::string hermes_;
  bool dry_run_;
  std::string state_dir_;
  std::optional<std::uint64_t> since_;
  std::string profile_home_;
  artifacts::WorkspaceRoots workspace_roots_ = artifacts::WorkspaceRoots::create(default_workspace_roots());
  uv_loop_t loop_{};
  loop::UvHandle<uv_pipe_t> conn_;
  loop::UvHandle<uv_timer_t> reconnect_;
  loop::UvHandle<uv_signal_t> sigint_, sigterm_;
  std::string inbuf_;
  std::uint64_t reconnect_ms_ = 500;
  bool subscribed_ = false;
  // Persisted state.
  bool started_ = false;  // false: the first start subscribes from now on
  std::uint64_t last_seq_ = 0;
  std::deque<std::string> applied_order_;
  std::set<std::string> applied_;
  std::map<std::string, Timer> timers_;  // by decision id
  std::vector<report::CommandRow> pending_rows_;
  std::uint64_t commands_ = 0;
  std::uint64_t failed_commands_ = 0;
  std::uint64_t refused_ = 0;
};

void Actor::load_state() {
  std::ifstream in(state_path(), std::ios::binary);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string json(ss.str());
  if (parser.parse(json).get(doc) != simdjson::SUCCESS) {
    spdlog::error(
        "{}: damaged; starting from the daemon's current seq (decisions already applied may be seen "
        "again only if replayed)",
        state_path());
    return;
  }
  started_ = true;
  last_seq_ = static_cast<std::uint64_t>(num(doc, "last_seq"));
  simdjson::dom::array list;
  if (doc["applied"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      std::string_view id;
      if (e.get_string().get(id) != simdjson::SUCCESS) continue;
      applied_order_.emplace_back(id);
      applied_.emplace(id);
    }
  }
  if (doc["timers"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      const std::string id = str(e, "decision_id");
      const std::string task = str(e, "task");
      if (id.empty() || task.empty()) continue;
      Timer& t = timers_[id];
      t.decision_id = id;
      t.board = str(e, "board");
      t.task = task;
      t.workspace = str(e, "workspace");
      t.at = num(e, "at");
    }
  }
}

void Actor::save_state() {
  if (dry_run_) return;
  std::string out;
  core::JsonWriter w(out);
  w.begin_object();
  w.key("last_seq").value(static_cast<std::int64_t>(last_seq_));
  w.key("applied").begin_array();
  for (const auto& id : applied_order_) w.value(id);
  w.end_array();
  w.key("timers").begin_array();
  for (const auto& [id, t] : timers_) {
    w.begin_object();
    w.key("decision_id").value(t.decision_id).key("board").value(t.board).key("task").value(t.task);
    w.key("workspace").value(t.workspace).key("at").value(t.at);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  out += '\n';
  std::error_code ec;
  fs::create_directories(state_dir_, ec);
  const std::string tmp = state_path() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  bool ok = fd >= 0 && ::write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size()) && ::fsync(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(tmp.c_str(), state_path().c_str()) == 0;
  if (!ok)
    spdlog::error("{}: cannot save ({}); applied decisions may be applied again after a restart", state_path(),
                  std::strerror(errno));
}

int Actor::run() {
  uv_loop_init(&loop_);
  loop_.data = this;
  load_state();
  auto stop = [](uv_signal_t* s, int signum) {
    spdlog::info("signal={} stopping", signum);
    uv_stop(s->loop);
  };
  sigint_ = loop::UvHandle<uv_signal_t>(this);
  uv_signal_init(&loop_, sigint_.get());
  sigint_.mark_initialized();
  uv_signal_start(sigint_.get(), stop, SIGINT);
  sigterm_ = loop::UvHandle<uv_signal_t>(this);
  uv_signal_init(&loop_, sigterm_.get());
  sigterm_.mark_initialized();
  uv_signal_start(sigterm_.get(), stop, SIGTERM);
  reconnect_ = loop::UvHandle<uv_timer_t>(this);
  uv_timer_init(&loop_, reconnect_.get());
  reconnect_.mark_initialized();
  // Timers held across a restart: due ones fire at once.
  for (auto& [id, t] : timers_) arm(t);
  spdlog::info("medic act socket={} hermes={} state={}{} timers={}", socket_, hermes_, state_path(),
               dry_run_ ? " (dry run)" : "", timers_.size());
  connect();
  uv_run(&loop_, UV_RUN_DEFAULT);
  spdlog::info("act stopped commands={} failed={} pending_timers={}", commands_, failed_commands_, timers_.size());
  conn_.reset();
  reconnect_.reset();
  sigint_.reset();
  sigterm_.reset();
  timers_.clear();  // closes the armed handles; act.json already holds them
  loop::close_loop(&loop_);
  return 0;
}

void Actor::connect() {
  conn_ = loop::UvHandle<uv_pipe_t>(this);
  uv_pipe_init(&loop_, conn_.get(), 0);
  conn_.mark_initialized();
  subscribed_ = false;
  inbuf_.clear();
  auto* req = new uv_connect_t{};
  req->data = this;
  uv_pipe_connect(req, conn_.get(), socket_.c_str(), [](uv_connect_t* r, int status) {
    auto* self = static_cast<Actor*>(r->data);
    delete r;
    if (status != 0) {
      spdlog::warn("cannot connect to {}: {}; retrying", self->socket_, uv_strerror(status));
      self->schedule_reconnect();
      return;
    }
    self->reconnect_ms_ = 500;
    uv_read_start(
        reinterpret_cast<uv_stream_t*>(self->conn_.get()),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
          buf->base = new char[suggested];
          buf->len = suggested;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* a = static_cast<Actor*>(s->loop->data);
          if (n > 0) {
            a->inbuf_.append(buf->base, static_cast<std::size_t>(n));
            std::size_t nl;
            while ((nl = a->inbuf_.find('\n')) != std::string::npos) {
              const std::string line = a->inbuf_.substr(0, nl);
              a->inbuf_.erase(0, nl + 1);
              a->on_line(line);
            }
          }
          delete[] buf->base;
          if (n < 0) {
            spdlog::warn("socket closed ({}); reconnecting", uv_strerror(static_cast<int>(n)));
            a->schedule_reconnect();
          }
        });
  });
}

void Actor::schedule_reconnect() {
  conn_.reset();
  uv_timer_start(
      reconnect_.get(), [](uv_timer_t* t) { static_cast<Actor*>(t->loop->data)->connect(); }, reconnect_ms_, 0);
  reconnect_ms_ = std::min<std::uint64_t>(reconnect_ms_ * 2, 30000);
}

void Actor::on_line(std::string_view line) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS) {
    spdlog::warn("unreadable line from the daemon skipped");
    return;
  }
  const std::string type = str(doc, "type");
  if (type == "hello" && !subscribed_) {
    // First start: from now on. Later: after the last seq seen. --since overrides both.
    const std::uint64_t since = since_     ? *since_
                                : started_ ? last_seq_
                                           : static_cast<std::uint64_t>(num(doc, "last_seq"));
    const std::string req = "{\"op\":\"subscribe\",\"since\":" + std::to_string(since) + "}\n";
    auto* w = new uv_write_t{};
    auto* copy = new std::string(req);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy->data(), static_cast<unsigned>(copy->size()));
    uv_write(w, reinterpret_cast<uv_stream_t*>(conn_.get()), &b, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
    subscribed_ = true;
    started_ = true;
    last_seq_ = std::max(last_seq_, since);
    spdlog::info("subscribed since={}", since);
    return;
  }
  if (type == "error") {
    spdlog::warn("daemon: {}", str(doc, "reason"));
    return;
  }
  const auto seq = static_cast<std::uint64_t>(num(doc, "seq"));
  if (type == "decision") {
    Decision d;
    d.seq = seq;
    d.id = str(doc, "id");
    d.task = str(doc, "task_id");
    d.board = str(doc, "board");
    if (d.board.empty()) d.board = "default";
    d.workspace = str(doc, "workspace");
    d.assignee = str(doc, "assignee");
    d.failure_class = str(doc, "class");
    d.action = str(doc, "action");
    d.retry_at = num(doc, "retry_at");
    d.use_provider = str(doc, "use_provider");
    d.reason = str(doc, "reason");
    d.next_command = str(doc, "next_command");
    simdjson::dom::element exit_obj;
    if (doc["exit"].get(exit_obj) == simdjson::SUCCESS) d.exit_event = str(exit_obj, "event");
    simdjson::dom::array missing;
    if (doc["missing"].get_array().get(missing) == simdjson::SUCCESS) {
      for (simdjson::dom::element m : missing) {
        std::string_view v;
        if (m.get_string().get(v) == simdjson::SUCCESS) d.missing.emplace_back(v);
      }
    }
    if (d.id.empty() || d.task.empty()) {
      spdlog::warn("decision seq={} without id or task skipped", seq);
    } else if (!core::valid_task_id(d.task) || !core::valid_board_slug(d.board) ||
               (!d.assignee.empty() && !core::valid_profile_name(d.assignee)) ||
               (!d.use_provider.empty() && !core::valid_provider_name(d.use_provider))) {
      // Never build a `hermes` argv or a profile path from a name outside Hermes's grammar.
      ++refused_;
      spdlog::warn(
          "decision={} refused: task '{}', board '{}', assignee '{}' or provider '{}' is not a valid Hermes name", d.id,
          d.task, d.board, d.assignee, d.use_provider);
    } else if (applied_.count(d.id)) {
      spdlog::info("decision={} already applied; skipped", d.id);
    } else {
      apply(d);
      if (!dry_run_) {
        applied_.insert(d.id);
        applied_order_.push_back(d.id);
        while (applied_order_.size() > kMaxApplied) {
          applied_.erase(applied_order_.front());
          applied_order_.pop_front();
        }
      }
    }
  }
  if (seq > last_seq_) last_seq_ = seq;
  save_state();
}

std::string Actor::task_status(const Decision& d) {
  if (dry_run_) return {};
  const ChildResult r = run_child(act::HermesCommand{"show", {{"json", ""}}, {d.task}}.argv(hermes_, d.board),
                                  {"HERMES_KANBAN_BOARD=" + d.board});
  if (r.exit_code != 0) {
    spdlog::warn("decision={} `hermes kanban show {} --json` exited {}: {}", d.id, d.task, r.exit_code,
                 last_line(r.output));
    return {};
  }
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(r.output).get(doc) != simdjson::SUCCESS) return {};
  std::string s = str(doc, "status");
  simdjson::dom::element task;
  if (s.empty() && doc["task"].get(task) == simdjson::SUCCESS) s = str(task, "status");
  return s;
}

ChildResult Actor::hermes(const Decision& d, const act::HermesCommand& c) {
  return hermes_for(d.id, d.board, d.task, c);
}

ChildResult Actor::hermes_for(const std::string& decision_id, const std::string& board, const std::string& task,
                              const act::HermesCommand& c) {
  const std::vector<std::string> argv = c.argv(hermes_, board);
  const std::string shown = shell_quote(argv);
  if (dry_run_) {
    std::printf("%s\n", shown.c_str());
    std::fflush(stdout);
    return ChildResult{0, ""};
  }
  ChildResult r = run_child(argv, {"HERMES_KANBAN_BOARD=" + board});
  ++commands_;
  if (r.exit_code != 0) ++failed_commands_;
  if (r.exit_code == 0)
    spdlog::info("decision={} ran `{}` exit=0", decision_id, shown);
  else
    spdlog::warn("decision={} ran `{}` exit={} output=\"{}\"", decision_id, shown, r.exit_code, last_line(r.output));
  pending_rows_.push_back(report::CommandRow{decision_id, now_s(), task, shown, r.exit_code, last_line(r.output)});
  return r;
}

void Actor::flush_reports(const std::string& board, const std::string& workspace) {
  if (pending_rows_.empty() || dry_run_) return;
  report::Update u;
  u.commands = std::move(pending_rows_);
  pending_rows_.clear();
  std::vector<report::Location> where;
  if (core::valid_board_slug(board))
    where.push_back(report::Location{state_dir_, "", "state/" + board + "/PROJECT_STATE.md"});
  // The workspace report under the daemon's rule (DESIGN.md §6b): beneath an allowed root,
  // reached without a link, or not written at all.
  if (!workspace.empty()) {
    auto ws = workspace_roots_.resolve(workspace);
    if (ws && artifacts::open_workspace(*ws))
      where.push_back(report::Location{ws->root, ws->rel, "state/PROJECT_STATE.md"});
    else
      spdlog::warn("state report in workspace={} not written: {}", workspace,
                   ws ? "the workspace cannot be opened without following a link" : ws.error().message);
  }
  for (auto& loc : where) {
    for (const char* ext : {".md", ".html"}) {
      loc.file = loc.file.substr(0, loc.file.rfind('.')) + ext;
      if (auto r = report::append(loc, u, now_s()); !r) spdlog::warn("state report: {}", r.error().message);
    }
  }
}

void Actor::apply(const Decision& d) {
  spdlog::info("decision={} seq={} action={} task={}", d.id, d.seq, d.action, d.task);
  const bool acts_on_task = d.action == "complete" || d.action == "block" || d.action == "retry_at" ||
                            d.action == "retry" || d.action == "resume";
  if (d.action == "repair_auth" && !profile_home_.empty()) {
    repair_auth(d);
    flush_reports(d.board, d.workspace);
    return;
  }
  if (!acts_on_task) {
    spdlog::info("decision={} action={}: nothing to run through Hermes{}{}", d.id, d.action,
                 d.next_command.empty() ? "" : "; next: ", d.next_command);
    return;
  }
  if (d.action == "block" && d.exit_event == "blocked") {
    spdlog::info("decision={}: Hermes already holds {} blocked; not blocked again", d.id, d.task);
    return;
  }
  // Hermes's CLI passes no expected run id: a task still running must be reclaimed first.
  if (task_status(d) == "running") hermes(d, {"reclaim", {{"reason", "medic: " + d.id}}, {d.task}});

  if (d.action == "complete") {
    hermes(d, {"complete", {{"summary", clip("medic: " + d.reason, 400)}}, {d.task}});
  } else if (d.action == "block") {
    hermes(d, {"block", {{"kind", block_kind(d.failure_class)}}, {d.task, clip(d.reason, 400)}});
  } else {
    if (!d.use_provider.empty()) hermes(d, {"set-model", {{"provider", d.use_provider}}, {d.task, "none"}});
    if (d.action == "resume" && !d.missing.empty()) {
      hermes(d, {"comment",
                 {},
                 {d.task, "medic: resume from the saved evidence; do not collect it again. Still missing: " +
                              core::join(d.missing)}});
    }
    const std::int64_t at = d.retry_at;
    if (at > now_s()) {
      hermes(d, {"schedule", {}, {d.task, "medic: retry at " + core::utc_time(at) + " UTC (" + d.id + ")"}});
      if (!dry_run_) {
        Timer& t = timers_[d.id];
        t.decision_id = d.id;
        t.board = d.board;
        t.task = d.task;
        t.workspace = d.workspace;
        t.at = at;
        arm(t);
      } else {
        std::printf("# at %s UTC: %s\n", core::utc_time(at).c_str(),
                    shell_quote(act::HermesCommand{"unblock", {}, {d.task}}.argv(hermes_, d.board)).c_str());
      }
    } else {
      hermes(d, {"unblock", {}, {d.task}});
    }
  }
  flush_reports(d.board, d.workspace);
}

// The seed article's preflight in the task's profile HOME: repaired -> retry the task now;
// still logged out -> block it with the precise instruction.
void Actor::repair_auth(const Decision& d) {
  if (d.assignee.empty()) {
    spdlog::warn("decision={} repair_auth: the task has no assignee, so no profile HOME; next: {}", d.id,
                 d.next_command);
    return;
  }
  // The template's fixed part, up to the directory that holds "{assignee}", is the
  // operator's; everything from the assignee on is resolved beneath it without a link
  // (preflight --beneath), and the assignee itself is a valid Hermes profile name.
  std::string home = profile_home_;
  const std::size_t first = home.find("{assignee}");
  const std::string beneath =
      first == std::string::npos ? home : std::filesystem::path(home.substr(0, first)).parent_path().string();
  for (std::size_t p; (p = home.find("{assignee}")) != std::string::npos;) home.replace(p, 10, d.assignee);
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  const std::string medic = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : "medic";
  const std::vector<std::string> argv{medic, "preflight", "--beneath=" + beneath, "--profile-home=" + home};
  ChildResult r{0, ""};
  if (dry_run_) {
    std::printf("%s\n", shell_quote(argv).c_str());
  } else {
    r = run_child(argv);
    ++commands_;
    spdlog::info("decision={} ran `{}` exit={}", d.id, shell_quote(argv), r.exit_code);
    pending_rows_.push_back(
        report::CommandRow{d.id, now_s(), d.task, shell_quote(argv), r.exit_code, last_line(r.output)});
  }
  if (task_status(d) == "running") hermes(d, {"reclaim", {{"reason", "medic: " + d.id}}, {d.task}});
  if (r.exit_code == 0) {
    hermes(d, {"unblock", {}, {d.task}});
  } else {
    ++failed_commands_;
    hermes(d,
           {"block",
            {{"kind", "needs_input"}},
            {d.task, "re-login to Codex for profile " + d.assignee + " (HOME=" + home + "): " + last_line(r.output)}});
  }
}

// std::map nodes do not move, so the handle's data can point at its Timer.
void Actor::arm(Timer& t) {
  t.handle = loop::UvHandle<uv_timer_t>(&t);
  uv_timer_init(&loop_, t.handle.get());
  t.handle.mark_initialized();
  const std::int64_t delay_ms = std::max<std::int64_t>(0, (t.at - now_s()) * 1000);
  uv_timer_start(
      t.handle.get(),
      [](uv_timer_t* th) {
        const std::string id = static_cast<Timer*>(th->data)->decision_id;  // fire() erases the Timer
        static_cast<Actor*>(th->loop->data)->fire(id);
      },
      static_cast<std::uint64_t>(delay_ms), 0);
}

void Actor::fire(const std::string& decision_id) {
  auto it = timers_.find(decision_id);
  if (it == timers_.end()) return;
  const std::string board = it->second.board;
  const std::string task = it->second.task;
  const std::string workspace = it->second.workspace;
  timers_.erase(it);  // closes its handle (libuv defers the close past this callback)
  hermes_for(decision_id, board, task, {"unblock", {}, {task}});
  save_state();
  flush_reports(board, workspace);
}

}  // namespace

int run_act(const cli::ActOptions& options) {
  spdlog::set_default_logger(spdlog::stderr_color_mt("act"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  if (const char* lvl = std::getenv("MEDIC_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(lvl));
  Actor actor(options);
  return actor.run();
}

}  // namespace medic::app
