#include "app/act_command.h"

#include <fcntl.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>
#include <uv.h>

#include <simdjson.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "act/hermes_command.h"
#include "act/planner.h"
#include "act/store.h"
#include "act/task_show.h"
#include "app/child_process.h"
#include "app/config.h"
#include "report/report_queue.h"
#include "artifacts/acceptance.h"
#include "core/ids.h"
#include "core/json_writer.h"
#include "core/text.h"
#include "loop/async_child.h"
#include "loop/handles.h"
#include "loop/uv_handle.h"
#include "core/atomic_file.h"
#include "publish/decision_codec.h"
#include "report/state_report.h"

namespace medic::app {
namespace {

namespace fs = std::filesystem;
using rules::Action;

std::int64_t now_s() { return core::SystemClock().now(); }

std::string last_line(const std::string& s) {
  const std::size_t nl = s.rfind('\n');
  std::string l = nl == std::string::npos ? s : s.substr(nl + 1);
  return l.size() <= 200 ? l : l.substr(0, 197) + "...";
}

// An `unblock` act holds for a decision's retry_at.
struct Timer {
  std::string decision_id;
  std::string board;
  std::string task;
  std::string workspace;
  std::int64_t at = 0;
  bool overrides_breaker = false;
  loop::UvHandle<uv_timer_t> handle;  // armed while act runs; its data is this Timer
  // The task's state is read kPreReadMs before `at` (a `hermes` call takes about a second),
  // so at `at` only the release itself runs: unblock, then dispatch.
  bool state_read = false;
  bool pre_read_asked = false;
  std::vector<act::HermesCommand> release;  // planned from that read
  // The release's commands are running: the timer leaves act.json only when they are done,
  // so a stop (or a crash) in between releases the task again at the next start.
  bool releasing = false;
  // > 0: the task was parked this long after `at` (its timer was due when armed).
  std::int64_t parked_late_ms = 0;
};

constexpr std::int64_t kPreReadMs = 3000;

// A decision waiting for Hermes to end its run (act::Plan::wait_for_hermes): planned
// again at the daemon's `run_ended` for it, or at `until` without it.
struct Wait {
  act::WaitState st;
  loop::UvHandle<uv_timer_t> handle;  // fires at st.until; its data is this Wait
};

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One unit of work for a task: apply a decision, or release a task at its timer.
struct Job {
  enum class Kind { Apply, Release };
  Kind kind = Kind::Apply;
  std::uint64_t seq = 0;      // Apply: the decision's seq (0: a wait planned again)
  decide::Decision decision;  // Apply
  bool wait_over = false;     // Apply: Hermes never ended the run in time; do not wait again
  std::string timer_id;       // Release
};

class Actor {
 public:
  explicit Actor(const cli::ActOptions& o)
      : socket_(o.socket ? *o.socket : default_socket_path()),
        hermes_(o.hermes),
        dry_run_(o.dry_run),
        state_dir_(o.state_dir ? *o.state_dir : default_state_dir()),
        since_(o.since),
        profile_home_(o.profile_home),
        plan_options_{o.dispatch},
        command_timeout_(std::chrono::seconds(o.command_timeout_s)),
        hermes_wait_s_(static_cast<std::int64_t>(o.hermes_wait_s)),
        parallel_(o.parallel) {}

  int run();

 private:
  void connect();
  void schedule_reconnect();
  void on_line(std::string_view line);
  void enqueue(const std::string& key, Job job);
  void pump();
  void start_job(const std::string& key);
  void job_done(const std::string& key);
  // Runs `hermes kanban --board=B show --json -- T`, then `then` with the parsed view.
  // A run_ended for the task while the read was out reads it again (at most twice more).
  void show(const std::string& board, const std::string& task, std::int64_t run,
            std::function<void(const act::TaskView&)> then, int again = 0);
  // Runs the plan's commands in order, then `then`.
  void run_commands(const std::string& decision_id, const std::string& board, const std::string& task,
                    std::vector<act::HermesCommand> commands, std::function<void()> then);
  void run_preflight(const decide::Decision& d, std::function<void(bool, const std::string&)> then);
  void arm(Timer& t);
  void release_due();
  // A decision waits for Hermes to end its run; replan() queues it again.
  void wait_for_hermes(const decide::Decision& d);
  void arm(Wait& w);
  void replan(const std::string& decision_id, bool wait_over);
  std::vector<std::string> due_;  // timers due in this loop turn
  loop::UvHandle<uv_timer_t> batch_timer_;
  void request_dispatch(const std::string& decision_id, const std::string& board, const std::string& task,
                        const std::string& workspace);
  struct DispatchSlot {
    Actor* self = nullptr;
    std::string board;
    std::string decision_id;  // the first that asked (for the log and the reports)
    std::string task;
    std::string workspace;
    loop::UvHandle<uv_timer_t> timer;
  };
  std::map<std::string, DispatchSlot> dispatches_;   // by board; map nodes never move
  std::map<std::string, std::string> workspace_of_;  // decision id -> its task's workspace (for reports)
  void fire(const std::string& decision_id);
  void flush_reports(const std::string& board, const std::string& workspace);
  void load_state();
  void save_state();
  // act.json is written at most every 100 ms (each write fsyncs): the loop stays free for
  // timers and the dispatcher's children; a stop writes it at once.
  void mark_dirty();
  loop::UvHandle<uv_timer_t> save_timer_;
  std::unique_ptr<report::ReportQueue> reports_;
  void remember(const std::string& id);
  std::string state_path() const { return state_dir_ + "/act.json"; }

  std::string socket_;
  std::string hermes_;
  bool dry_run_;
  std::string state_dir_;
  std::optional<std::uint64_t> since_;
  std::string profile_home_;
  act::PlanOptions plan_options_;
  std::chrono::milliseconds command_timeout_;
  std::int64_t hermes_wait_s_;
  std::size_t parallel_;
  artifacts::WorkspaceRoots workspace_roots_ = artifacts::WorkspaceRoots::create(default_workspace_roots());
  uv_loop_t loop_{};
  std::unique_ptr<loop::AsyncChildRunner> children_;
  loop::UvHandle<uv_pipe_t> conn_;
  loop::UvHandle<uv_timer_t> reconnect_;
  loop::UvHandle<uv_signal_t> sigint_, sigterm_;
  std::string inbuf_;
  std::uint64_t reconnect_ms_ = 500;
  bool subscribed_ = false;
  // Work: one queue per task (its commands never interleave), `parallel_` tasks at once.
  std::map<std::string, std::deque<Job>> queues_;
  std::set<std::string> busy_;
  // Seqs of decisions received but not yet applied: act.json's last_seq stays below the
  // oldest, so a stop (or a crash) before a decision is applied replays it.
  std::multiset<std::uint64_t> pending_seqs_;
  bool stopping_ = false;
  bool pumping_ = false;     // pump() is running (a job ended inside it)
  bool pump_again_ = false;  // ... and asked for another pass
  loop::UvHandle<uv_timer_t> stop_deadline_;
  // Persisted state.
  bool started_ = false;  // false: the first start subscribes from now on
  std::uint64_t last_seq_ = 0;
  std::deque<std::string> applied_order_;
  std::set<std::string> applied_;
  std::map<std::string, Timer> timers_;  // by decision id
  std::map<std::string, Wait> waits_;    // by decision id
  // board/task -> how many run_ended messages came for it: a `show` out while one came may
  // have read the task before Hermes's tick moved it, and is read again.
  std::map<std::string, std::uint64_t> moves_;
  std::vector<report::CommandRow> pending_rows_;
  std::uint64_t commands_ = 0;
  std::uint64_t failed_commands_ = 0;
  std::uint64_t refused_ = 0;
  std::int64_t max_late_ms_ = 0;
};

void Actor::load_state() {
  std::ifstream in(state_path(), std::ios::binary);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  std::size_t dropped = 0;
  auto loaded = act::decode_state(ss.str(), &dropped);
  if (!loaded) {
    spdlog::error(
        "{}: damaged ({}); starting from the daemon's current seq (decisions already applied may be seen "
        "again only if replayed)",
        state_path(), loaded.error().message);
    return;
  }
  if (dropped > 0)
    spdlog::warn("{}: {} timer(s) with a task or board outside Hermes's grammar dropped", state_path(), dropped);
  started_ = true;
  last_seq_ = loaded->last_seq;
  for (auto& id : loaded->applied) {
    applied_.insert(id);
    applied_order_.push_back(std::move(id));
  }
  for (auto& ts : loaded->timers) {
    Timer& t = timers_[ts.decision_id];
    t.decision_id = ts.decision_id;
    t.board = std::move(ts.board);
    t.task = std::move(ts.task);
    t.workspace = std::move(ts.workspace);
    t.at = ts.at;
    t.overrides_breaker = ts.overrides_breaker;
  }
  for (auto& ws : loaded->waits) {
    Wait& w = waits_[ws.decision_id];
    w.st = std::move(ws);
  }
}

void Actor::mark_dirty() {
  if (!save_timer_ || uv_is_active(save_timer_.handle())) return;
  uv_timer_start(
      save_timer_.get(), [](uv_timer_t* t) { static_cast<Actor*>(t->data)->save_state(); }, 100, 0);
}

void Actor::save_state() {
  if (dry_run_) return;
  act::ActState st;
  const std::uint64_t durable = pending_seqs_.empty() ? last_seq_ : *pending_seqs_.begin() - 1;
  st.last_seq = std::min(last_seq_, durable);
  st.applied = applied_order_;
  for (const auto& [id, t] : timers_)
    st.timers.push_back(act::TimerState{t.decision_id, t.board, t.task, t.workspace, t.at, t.overrides_breaker});
  for (const auto& [id, w] : waits_) st.waits.push_back(w.st);
  std::error_code ec;
  fs::create_directories(state_dir_, ec);
  if (auto ok = core::write_file_atomically(state_path(), act::encode_state(st), 0600); !ok) {
    spdlog::error("{}: cannot save ({}); applied decisions may be applied again after a restart", state_path(),
                  ok.error().message);
  }
}

void Actor::remember(const std::string& id) {
  if (dry_run_) return;
  applied_.insert(id);
  applied_order_.push_back(id);
  while (applied_order_.size() > act::kMaxApplied) {
    applied_.erase(applied_order_.front());
    applied_order_.pop_front();
  }
}

int Actor::run() {
  uv_loop_init(&loop_);
  loop_.data = this;
  children_ = std::make_unique<loop::AsyncChildRunner>(&loop_);
  load_state();
  // A stop lets the commands in flight finish (at most 10 s), so a decision is never left
  // half applied; the ones still queued are replayed at the next start (act.json's seq).
  auto stop = [](uv_signal_t* s, int signum) {
    auto* self = static_cast<Actor*>(s->loop->data);
    spdlog::info("signal={} stopping{}", signum,
                 self->busy_.empty() ? "" : " after the " + std::to_string(self->busy_.size()) + " job(s) in flight");
    self->stopping_ = true;
    self->conn_.reset();
    self->reconnect_.reset();
    uv_timer_start(
        self->stop_deadline_.get(), [](uv_timer_t* t) { uv_stop(t->loop); }, 10000, 0);
    self->pump();
  };
  // Every handle act needs, or a clear error and no start.
  auto made = [&]() -> core::Result<void> {
    auto si = loop::make_signal(&loop_, this, SIGINT, stop);
    if (!si) return tl::unexpected(si.error());
    sigint_ = std::move(*si);
    auto st = loop::make_signal(&loop_, this, SIGTERM, stop);
    if (!st) return tl::unexpected(st.error());
    sigterm_ = std::move(*st);
    for (auto* slot : {&reconnect_, &stop_deadline_, &save_timer_, &batch_timer_}) {
      auto t = loop::make_timer(&loop_, this);
      if (!t) return tl::unexpected(t.error());
      *slot = std::move(*t);
    }
    auto reports = report::ReportQueue::create(&loop_);
    if (!reports) return tl::unexpected(reports.error());
    reports_ = std::move(*reports);
    return {};
  }();
  if (!made) {
    spdlog::critical("act cannot start: event loop: {}", made.error().message);
    loop::close_loop(&loop_);
    return 1;
  }
  // Timers held across a restart: due ones fire at once.
  for (auto& [id, t] : timers_) arm(t);
  for (auto& [id, w] : waits_) arm(w);
  spdlog::info(
      "medic act socket={} hermes={} state={}{} timers={} waits={} dispatch={} command_timeout={}s hermes_wait={}s "
      "parallel={}",
      socket_, hermes_, state_path(), dry_run_ ? " (dry run)" : "", timers_.size(), waits_.size(),
      plan_options_.dispatch, command_timeout_.count() / 1000, hermes_wait_s_, parallel_);
  connect();
  uv_run(&loop_, UV_RUN_DEFAULT);
  spdlog::info("act stopped commands={} failed={} refused={} pending_timers={} max_timer_lateness_ms={}", commands_,
               failed_commands_, refused_, timers_.size(), max_late_ms_);
  save_state();
  if (reports_) reports_->shutdown();
  save_timer_.reset();
  batch_timer_.reset();
  dispatches_.clear();
  children_.reset();  // kills what still runs
  conn_.reset();
  reconnect_.reset();
  sigint_.reset();
  sigterm_.reset();
  stop_deadline_.reset();
  timers_.clear();  // closes the armed handles; act.json already holds them
  waits_.clear();
  if (const std::size_t open = loop::close_loop(&loop_); open > 0)
    spdlog::debug("{} loop handle(s) were still open at the stop; closed", open);
  return 0;
}

void Actor::connect() {
  auto pipe = loop::make_pipe(&loop_, this);
  if (!pipe) {
    spdlog::error("cannot connect to {}: {}; retrying", socket_, pipe.error().message);
    schedule_reconnect();
    return;
  }
  conn_ = std::move(*pipe);
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
  if (stopping_) return;
  uv_timer_start(
      reconnect_.get(), [](uv_timer_t* t) { static_cast<Actor*>(t->loop->data)->connect(); }, reconnect_ms_, 0);
  reconnect_ms_ = std::min<std::uint64_t>(reconnect_ms_ * 2, 30000);
}

void Actor::on_line(std::string_view line) {
  if (stopping_) return;
  const std::string type = publish::message_type(line);
  if (type == "hello" && !subscribed_) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    std::int64_t last = 0;
    if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS ||
        doc["last_seq"].get_int64().get(last) != simdjson::SUCCESS)
      last = 0;
    const auto daemon_last = static_cast<std::uint64_t>(std::max<std::int64_t>(last, 0));
    // First start: from now on. Later: after the last seq seen. --since overrides both.
    std::uint64_t since = since_ ? *since_ : started_ ? last_seq_ : daemon_last;
    since = std::min(since, daemon_last);  // a journal reset: the daemon refuses a since beyond it
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
    spdlog::warn("daemon: {}", std::string(line));
    return;
  }
  if (type == "run_ended") {
    auto m = publish::decode_run_ended(line);
    if (!m) {
      spdlog::warn("unreadable run_ended skipped: {}", m.error().message);
      return;
    }
    last_seq_ = std::max(last_seq_, m->seq);
    const publish::RunEnded* r = &m->run;
    // A `show` out now may have read the task before Hermes's tick: it reads it again. (A
    // show started after this line reads what Hermes committed, so nothing else is kept.)
    ++moves_[r->board + "/" + r->task_id];
    if (moves_.size() > 10000) moves_.erase(moves_.begin());
    spdlog::info("decision={}: Hermes ended run {} ({})", r->decision_id, r->run_id, r->event);
    if (waits_.count(r->decision_id)) {
      spdlog::info("decision={}: it waited for that; planned again", r->decision_id);
      replan(r->decision_id, false);
    }
    mark_dirty();
    return;
  }
  if (type != "decision") return;
  auto m = publish::decode_decision(line);
  if (!m) {
    spdlog::warn("unreadable decision skipped: {}", m.error().message);
    return;
  }
  const decide::Decision& d = m->decision;
  if (m->seq > last_seq_) last_seq_ = m->seq;
  if (!core::valid_task_id(d.task_id) || !core::valid_board_slug(d.board) ||
      (!d.assignee.empty() && !core::valid_profile_name(d.assignee)) ||
      (!d.use_provider.empty() && !core::valid_provider_name(d.use_provider)) ||
      (!d.use_model.empty() && !core::valid_provider_name(d.use_model))) {
    // Never build a `hermes` argv or a profile path from a name outside Hermes's grammar.
    ++refused_;
    spdlog::warn(
        "decision={} refused: task '{}', board '{}', assignee '{}' or provider/model '{}'/'{}' is not a valid "
        "Hermes name",
        d.id, d.task_id, d.board, d.assignee, d.use_provider, d.use_model);
    mark_dirty();
    return;
  }
  if (applied_.count(d.id)) {
    spdlog::info("decision={} already applied; skipped", d.id);
    mark_dirty();
    return;
  }
  Job job;
  job.kind = Job::Kind::Apply;
  job.seq = m->seq;
  job.decision = d;
  pending_seqs_.insert(m->seq);
  enqueue(d.board + "/" + d.task_id, std::move(job));
  mark_dirty();
}

void Actor::enqueue(const std::string& key, Job job) {
  queues_[key].push_back(std::move(job));
  pump();
}

// start_job can end a job at once (a release whose timer is gone), and job_done erases
// the job's queue and pumps again: so the queues are never iterated while a job starts,
// and a pump asked for during a pump runs after it, not inside it.
void Actor::pump() {
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    if (stopping_) {
      if (busy_.empty()) uv_stop(&loop_);
      break;
    }
    std::vector<std::string> ready;
    for (const auto& [key, q] : queues_) {
      if (busy_.size() + ready.size() >= parallel_) break;
      if (!q.empty() && !busy_.count(key)) ready.push_back(key);
    }
    for (const std::string& key : ready) {
      const auto it = queues_.find(key);
      if (busy_.size() >= parallel_ || it == queues_.end() || it->second.empty() || busy_.count(key)) continue;
      start_job(key);
    }
  } while (pump_again_);
  pumping_ = false;
}

void Actor::job_done(const std::string& key) {
  busy_.erase(key);
  auto it = queues_.find(key);
  if (it != queues_.end() && it->second.empty()) queues_.erase(it);
  mark_dirty();
  pump();
}

void Actor::start_job(const std::string& key) {
  busy_.insert(key);
  Job job = std::move(queues_[key].front());
  queues_[key].pop_front();
  const auto now = now_s();
  if (job.kind == Job::Kind::Release) {
    auto it = timers_.find(job.timer_id);
    if (it == timers_.end()) {
      job_done(key);
      return;
    }
    const std::string id = it->second.decision_id, board = it->second.board, task = it->second.task;
    const bool overrides = it->second.overrides_breaker;
    show(board, task, 0, [=, this](const act::TaskView& t) {
      act::Plan p = act::plan_release(task, t, overrides, plan_options_);
      for (const auto& n : p.notes) spdlog::info("decision={} release: {}", id, n);
      auto tm = timers_.find(id);
      // A read that failed (or a task `show` cannot find) leaves the blind release: the
      // unblock of what act parked, which Hermes refuses harmlessly if there is nothing to do.
      if (tm != timers_.end() && t.exists) {
        tm->second.state_read = true;
        tm->second.release = std::move(p.commands);
      }
      job_done(key);
      // Due already and not released blind meanwhile: release it now.
      tm = timers_.find(id);
      if (tm != timers_.end() && tm->second.handle && !tm->second.releasing &&
          !uv_is_active(tm->second.handle.handle()) && wall_ms() >= tm->second.at * 1000)
        fire(id);
    });
    return;
  }
  const decide::Decision d = job.decision;
  const std::uint64_t seq = job.seq;
  if (seq == 0 && !waits_.count(d.id)) {
    job_done(key);  // a wait planned twice (its run_ended and its time): done already
    return;
  }
  workspace_of_[d.id] = d.workspace;
  if (workspace_of_.size() > 1000) workspace_of_.erase(workspace_of_.begin());
  spdlog::info("decision={} action={} task={} run={}", d.id, rules::to_string(d.action), d.task_id, d.run_id);
  // The end of a decision's job: hold its release timer, remember it as applied.
  auto settle = [=, this](const std::optional<core::EpochSeconds>& release_at) {
    if (release_at && !dry_run_) {
      Timer& t = timers_[d.id];
      t.decision_id = d.id;
      t.board = d.board;
      t.task = d.task_id;
      t.workspace = d.workspace;
      t.at = *release_at;
      t.overrides_breaker = d.overrides_breaker;
      t.parked_late_ms = std::max<std::int64_t>(0, wall_ms() - t.at * 1000);
      arm(t);
    } else if (release_at) {
      std::printf("# at %s UTC: %s\n", core::utc_time(*release_at).c_str(),
                  shell_quote(act::HermesCommand{"unblock", {}, {d.task_id}}.argv(hermes_, d.board)).c_str());
      std::fflush(stdout);
    }
    remember(d.id);
    if (auto it = pending_seqs_.find(seq); it != pending_seqs_.end()) pending_seqs_.erase(it);
    flush_reports(d.board, d.workspace);
    job_done(d.board + "/" + d.task_id);
  };
  act::PlanOptions options = plan_options_;
  if (job.wait_over) options.wait_for_hermes = false;
  // A plan that waits for Hermes holds the decision (act.json) and ends the job.
  auto held = [=, this](const act::Plan& p) {
    if (!p.wait_for_hermes) return false;
    wait_for_hermes(d);
    settle(std::nullopt);
    return true;
  };
  auto finish = [=, this](act::Plan p) {
    for (const auto& n : p.notes) spdlog::info("decision={}: {}", d.id, n);
    if (held(p)) return;
    if (auto w = waits_.find(d.id); w != waits_.end()) {
      waits_.erase(w);  // planned without a wait now: whatever it runs, the wait is over
      mark_dirty();
    }
    const std::uint64_t failed_before = failed_commands_;
    run_commands(d.id, d.board, d.task_id, std::move(p.commands), [=, this] {
      if (failed_commands_ == failed_before || d.action == Action::RepairAuth) {
        settle(p.release_at);
        return;
      }
      // Hermes's dispatcher moved the task between the read and the command: read it again
      // and converge from where it is now (once; "already there" is success).
      show(d.board, d.task_id, d.run_id, [=, this](const act::TaskView& t) {
        act::Plan again = act::plan(d, t, now_s(), options);
        if (held(again)) return;
        if (again.commands.empty()) spdlog::info("decision={}: converged after Hermes moved the task", d.id);
        for (const auto& n : again.notes) spdlog::info("decision={}: {}", d.id, n);
        const auto release = again.release_at;
        run_commands(d.id, d.board, d.task_id, std::move(again.commands), [=] { settle(release); });
      });
    });
  };
  if (d.action == Action::RepairAuth && !profile_home_.empty()) {
    run_preflight(d, [=, this](bool repaired, const std::string& why) {
      show(d.board, d.task_id, d.run_id,
           [=](const act::TaskView& t) { finish(act::plan_after_preflight(d, t, repaired, why)); });
    });
    return;
  }
  show(d.board, d.task_id, d.run_id, [=, this](const act::TaskView& t) {
    act::Plan p = act::plan(d, t, now, options);
    if (p.wait_for_hermes && dry_run_) {
      // A dry run holds nothing: it shows the wait, then what would follow it.
      std::printf("# waits for Hermes to end run %lld of %s (at most %lld s), then:\n",
                  static_cast<long long>(d.run_id), d.task_id.c_str(), static_cast<long long>(hermes_wait_s_));
      std::fflush(stdout);
      act::PlanOptions after = options;
      after.wait_for_hermes = false;
      p = act::plan(d, t, now, after);
    }
    finish(std::move(p));
  });
}

void Actor::wait_for_hermes(const decide::Decision& d) {
  if (dry_run_) return;
  auto [it, fresh] = waits_.try_emplace(d.id);
  Wait& w = it->second;
  if (fresh) {
    w.st = act::WaitState{
        d.id, d.board, d.task_id, d.run_id, d.workspace, publish::encode_decision(d, 0), now_s() + hermes_wait_s_};
    spdlog::info("decision={} waits up to {} s for Hermes to end run {}", d.id, hermes_wait_s_, d.run_id);
  }
  arm(w);
  mark_dirty();
}

void Actor::arm(Wait& w) {
  if (!w.handle) {
    auto h = loop::make_timer(&loop_, &w);
    if (!h) {
      spdlog::error("decision={}: {}; it is planned again at the next start", w.st.decision_id, h.error().message);
      return;
    }
    w.handle = std::move(*h);
  }
  uv_update_time(&loop_);
  const std::int64_t delay_ms = std::max<std::int64_t>(0, w.st.until * 1000 - wall_ms());
  uv_timer_start(
      w.handle.get(),
      [](uv_timer_t* th) {
        const std::string id = static_cast<Wait*>(th->data)->st.decision_id;
        auto* self = static_cast<Actor*>(th->loop->data);
        if (self->stopping_) return;  // act.json keeps it: the next start plans it
        spdlog::info(
            "decision={}: Hermes did not end the run within {} s (is its dispatcher running?); applying "
            "it without Hermes's word",
            id, self->hermes_wait_s_);
        self->replan(id, true);
      },
      static_cast<std::uint64_t>(delay_ms), 0);
}

void Actor::replan(const std::string& decision_id, bool wait_over) {
  auto it = waits_.find(decision_id);
  if (it == waits_.end()) return;
  auto m = publish::decode_decision(it->second.st.decision);
  if (!m) {
    spdlog::warn("decision={}: its kept line is unreadable ({}); the wait is dropped", decision_id, m.error().message);
    waits_.erase(it);
    mark_dirty();
    return;
  }
  Job job;
  job.kind = Job::Kind::Apply;
  job.decision = std::move(m->decision);
  job.wait_over = wait_over;
  enqueue(it->second.st.board + "/" + it->second.st.task, std::move(job));
}

void Actor::show(const std::string& board, const std::string& task, std::int64_t run,
                 std::function<void(const act::TaskView&)> then, int again) {
  const auto argv = act::HermesCommand{"show", {{"json", ""}}, {task}}.argv(hermes_, board);
  const std::string key = board + "/" + task;
  const std::uint64_t moves = moves_.count(key) ? moves_[key] : 0;
  children_->run(argv, {"HERMES_KANBAN_BOARD=" + board}, command_timeout_,
                 [=, this, then = std::move(then)](loop::ChildOutcome r) mutable {
                   if (auto m = moves_.find(key); m != moves_.end() && m->second != moves && again < 2) {
                     // Hermes ended a run of this task while it was being read: read it again.
                     spdlog::info("task={} moved by Hermes while act read it; reading it again", key);
                     show(board, task, run, std::move(then), again + 1);
                     return;
                   }
                   if (r.exit_code != 0) {
                     spdlog::warn("`{}` exited {}{}: {}", shell_quote(argv), r.exit_code,
                                  r.timed_out ? " (killed: over the command timeout)" : "", last_line(r.output));
                   }
                   then(r.exit_code == 0 ? act::parse_show(r.output, run) : act::TaskView{});
                 });
}

void Actor::run_commands(const std::string& decision_id, const std::string& board, const std::string& task,
                         std::vector<act::HermesCommand> commands, std::function<void()> then) {
  if (commands.empty()) {
    then();
    return;
  }
  const act::HermesCommand c = commands.front();
  commands.erase(commands.begin());
  if (c.verb == "dispatch" && !dry_run_) {
    // One dispatcher pass per board for the releases and completes of the same 20 ms: a
    // pass is a whole Hermes tick, and twenty tasks released at one reset need one.
    request_dispatch(decision_id, board, task, workspace_of_.count(decision_id) ? workspace_of_[decision_id] : "");
    run_commands(decision_id, board, task, std::move(commands), std::move(then));
    return;
  }
  const std::vector<std::string> argv = c.argv(hermes_, board);
  const std::string shown = shell_quote(argv);
  if (dry_run_) {
    std::printf("%s\n", shown.c_str());
    std::fflush(stdout);
    run_commands(decision_id, board, task, std::move(commands), std::move(then));
    return;
  }
  children_->run(argv, {"HERMES_KANBAN_BOARD=" + board}, command_timeout_,
                 [=, this, commands = std::move(commands), then = std::move(then)](loop::ChildOutcome r) mutable {
                   ++commands_;
                   if (r.exit_code == 0) {
                     spdlog::info("decision={} ran `{}` exit=0", decision_id, shown);
                   } else {
                     ++failed_commands_;
                     spdlog::warn("decision={} ran `{}` exit={}{} output=\"{}\"", decision_id, shown, r.exit_code,
                                  r.timed_out ? " (killed: over the command timeout)" : "", last_line(r.output));
                   }
                   pending_rows_.push_back(
                       report::CommandRow{decision_id, now_s(), task, shown, r.exit_code, last_line(r.output)});
                   run_commands(decision_id, board, task, std::move(commands), std::move(then));
                 });
}

// The seed article's preflight in the task's profile HOME.
void Actor::run_preflight(const decide::Decision& d, std::function<void(bool, const std::string&)> then) {
  if (d.assignee.empty()) {
    spdlog::warn("decision={} repair_auth: the task has no assignee, so no profile HOME; next: {}", d.id,
                 d.next_command);
    then(false, "the task has no assignee");
    return;
  }
  // The template's fixed part, up to the directory that holds "{assignee}", is the
  // operator's; everything from the assignee on is resolved beneath it without a link
  // (preflight --beneath), and the assignee itself is a valid Hermes profile name.
  std::string home = profile_home_;
  const std::size_t first = home.find("{assignee}");
  const std::string beneath =
      first == std::string::npos ? home : fs::path(home.substr(0, first)).parent_path().string();
  for (std::size_t p; (p = home.find("{assignee}")) != std::string::npos;) home.replace(p, 10, d.assignee);
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  const std::string medic = n > 0 ? std::string(self, static_cast<std::size_t>(n)) : "medic";
  const std::vector<std::string> argv{medic, "preflight", "--beneath=" + beneath, "--profile-home=" + home};
  if (dry_run_) {
    std::printf("%s\n", shell_quote(argv).c_str());
    then(false, "dry run");
    return;
  }
  children_->run(argv, {}, command_timeout_, [=, this, then = std::move(then)](loop::ChildOutcome r) {
    ++commands_;
    if (r.exit_code != 0) ++failed_commands_;
    spdlog::info("decision={} ran `{}` exit={}", d.id, shell_quote(argv), r.exit_code);
    pending_rows_.push_back(
        report::CommandRow{d.id, now_s(), d.task_id, shell_quote(argv), r.exit_code, last_line(r.output)});
    then(r.exit_code == 0, last_line(r.output));
  });
}

// The timer's delay comes from the wall clock, and libuv's cached loop time is refreshed
// first (it goes stale while a callback runs); a timer that fires early, by the wall
// clock, is re-armed for the rest, so an unblock never comes before retry_at.
void Actor::arm(Timer& t) {
  if (!t.handle) {
    auto h = loop::make_timer(&loop_, &t);
    if (!h) {
      // Kept in act.json: the next start arms it again.
      spdlog::error("decision={} timer not armed: {}", t.decision_id, h.error().message);
      return;
    }
    t.handle = std::move(*h);
  }
  uv_update_time(&loop_);
  const std::int64_t target = t.pre_read_asked ? t.at * 1000 : t.at * 1000 - kPreReadMs;
  const std::int64_t delay_ms = std::max<std::int64_t>(0, target - wall_ms());
  uv_timer_start(
      t.handle.get(),
      [](uv_timer_t* th) {
        const std::string id = static_cast<Timer*>(th->data)->decision_id;
        static_cast<Actor*>(th->loop->data)->fire(id);
      },
      static_cast<std::uint64_t>(delay_ms), 0);
}

void Actor::fire(const std::string& decision_id) {
  // A timer that comes due while act stops stays in act.json: the next start fires it.
  if (stopping_) return;
  auto it = timers_.find(decision_id);
  if (it == timers_.end() || it->second.releasing) return;
  Timer& t = it->second;
  const std::int64_t now = wall_ms();
  if (!t.state_read && !t.pre_read_asked) {
    // Read the task's state and plan the release. Ahead of the time, the timer is re-armed
    // for retry_at itself at once, whether or not the read is back by then; a timer already
    // due (held across a restart, perhaps half released) is released when the read is back.
    t.pre_read_asked = true;
    Job job;
    job.kind = Job::Kind::Release;
    job.timer_id = decision_id;
    enqueue(t.board + "/" + t.task, std::move(job));
    if (now < t.at * 1000) arm(t);
    return;
  }
  if (now < t.at * 1000) {
    arm(t);  // early by the wall clock: wait for the rest
    return;
  }
  // Every timer due in this loop turn is released together (below): many tasks parked for
  // one provider's reset start with one `unblock` of all their ids and one dispatch.
  due_.push_back(decision_id);
  if (!uv_is_active(batch_timer_.handle())) {
    uv_timer_start(
        batch_timer_.get(), [](uv_timer_t* th) { static_cast<Actor*>(th->data)->release_due(); }, 0, 0);
  }
}

void Actor::release_due() {
  const std::int64_t now = wall_ms();
  std::map<std::string, std::vector<std::string>> unblock;   // board -> task ids
  std::map<std::string, std::string> first_id, workspace;    // board -> for the log and reports
  std::map<std::string, std::vector<std::string>> released;  // board -> timer ids
  for (const auto& id : due_) {
    auto it = timers_.find(id);
    if (it == timers_.end() || it->second.releasing) continue;
    Timer& t = it->second;
    const std::int64_t late = now - t.at * 1000;
    if (t.parked_late_ms > 0) {
      // Not the timer's lateness: the task was parked only after its time (the decision
      // came late, or its commands queued behind others): released at once.
      spdlog::info("decision={} release for {} {} ms after retry_at: parked {} ms after it", id, t.task, late,
                   t.parked_late_ms);
    } else {
      max_late_ms_ = std::max(max_late_ms_, late);
      spdlog::info("decision={} timer for {} fired {} ms after retry_at", id, t.task, late);
    }
    // Without a state read back yet, the release is the unblock of what act parked.
    const bool wants_unblock = !t.state_read || std::any_of(t.release.begin(), t.release.end(),
                                                            [](const auto& c) { return c.verb == "unblock"; });
    if (wants_unblock) {
      unblock[t.board].push_back(t.task);
      first_id.emplace(t.board, id);
      workspace.emplace(t.board, t.workspace);
      released[t.board].push_back(id);
      t.releasing = true;
    } else {
      timers_.erase(it);
    }
  }
  due_.clear();
  for (auto& [board, tasks] : unblock) {
    std::vector<act::HermesCommand> commands{act::HermesCommand{"unblock", {}, tasks}};
    if (plan_options_.dispatch) commands.push_back(act::HermesCommand{"dispatch", {}, {}});
    const std::string b = board, ws = workspace[board];
    run_commands(first_id[board], board, core::join(tasks), std::move(commands),
                 [this, b, ws, ids = std::move(released[board])] {
                   for (const auto& id : ids) timers_.erase(id);
                   flush_reports(b, ws);
                   mark_dirty();
                 });
  }
  mark_dirty();
}

void Actor::request_dispatch(const std::string& decision_id, const std::string& board, const std::string& task,
                             const std::string& workspace) {
  DispatchSlot& d = dispatches_[board];
  if (d.timer && uv_is_active(d.timer.handle())) return;  // one is coming already
  d.self = this;
  d.board = board;
  d.decision_id = decision_id;
  d.task = task;
  d.workspace = workspace;
  if (!d.timer) {
    auto h = loop::make_timer(&loop_, &d);
    if (!h) {
      spdlog::error("decision={} dispatch not scheduled: {}", decision_id, h.error().message);
      return;
    }
    d.timer = std::move(*h);
  }
  uv_timer_start(
      d.timer.get(),
      [](uv_timer_t* t) {
        auto* slot = static_cast<DispatchSlot*>(t->data);
        Actor* self = slot->self;
        const std::string board = slot->board, id = slot->decision_id, task = slot->task, workspace = slot->workspace;
        const std::vector<std::string> argv = act::HermesCommand{"dispatch", {}, {}}.argv(self->hermes_, board);
        self->children_->run(argv, {"HERMES_KANBAN_BOARD=" + board}, self->command_timeout_,
                             [self, board, id, task, workspace, argv](loop::ChildOutcome r) {
                               ++self->commands_;
                               if (r.exit_code == 0) {
                                 spdlog::info("decision={} ran `{}` exit=0", id, shell_quote(argv));
                               } else {
                                 ++self->failed_commands_;
                                 spdlog::warn("decision={} ran `{}` exit={} output=\"{}\"", id, shell_quote(argv),
                                              r.exit_code, last_line(r.output));
                               }
                               self->pending_rows_.push_back(report::CommandRow{id, now_s(), task, shell_quote(argv),
                                                                                r.exit_code, last_line(r.output)});
                               self->flush_reports(board, workspace);
                             });
      },
      20, 0);
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
  // Written off the loop thread, paced per file (ReportQueue), like the daemon's.
  for (auto& loc : where) {
    for (const char* ext : {".md", ".html"}) {
      loc.file = loc.file.substr(0, loc.file.rfind('.')) + ext;
      reports_->add(loc, u);
    }
  }
}

}  // namespace

int run_act(const cli::ActOptions& options) {
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::set_default_logger(spdlog::stderr_color_mt("act"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  if (const char* lvl = std::getenv("MEDIC_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(lvl));
  Actor actor(options);
  return actor.run();
}

}  // namespace medic::app
