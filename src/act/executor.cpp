#include "act/executor.h"

#include <spdlog/spdlog.h>

#include <simdjson.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/atomic_file.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/text.h"
#include "loop/handles.h"
#include "publish/decision_codec.h"

namespace medic::act {
namespace {

namespace fs = std::filesystem;
using rules::Action;

std::int64_t now_s() { return core::SystemClock().now(); }

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string last_line(const std::string& s) {
  const std::size_t nl = s.rfind('\n');
  std::string l = nl == std::string::npos ? s : s.substr(nl + 1);
  return l.size() <= 200 ? l : l.substr(0, 197) + "...";
}

// A release's state is read this long before its time (a `hermes` call takes about a second).
constexpr std::int64_t kPreReadMs = 3000;

}  // namespace

void Executor::load_state() {
  std::ifstream in(state_path(), std::ios::binary);
  if (!in) return;
  std::stringstream ss;
  ss << in.rdbuf();
  std::size_t dropped = 0;
  auto loaded = decode_state(ss.str(), &dropped);
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

void Executor::mark_dirty() {
  if (!save_timer_ || uv_is_active(save_timer_.handle())) return;
  loop::arm(
      save_timer_, [](uv_timer_t* t) { static_cast<Executor*>(t->data)->save_state(); }, 100, 0, "act.json save");
}

void Executor::save_state() {
  if (o_.dry_run) return;
  ActState st;
  const std::uint64_t durable = pending_seqs_.empty() ? last_seq_ : *pending_seqs_.begin() - 1;
  st.last_seq = std::min(last_seq_, durable);
  st.applied = applied_order_;
  for (const auto& [id, t] : timers_)
    st.timers.push_back(TimerState{t.decision_id, t.board, t.task, t.workspace, t.at, t.overrides_breaker});
  for (const auto& [id, w] : waits_) st.waits.push_back(w.st);
  std::error_code ec;
  fs::create_directories(o_.state_dir, ec);
  if (auto ok = core::write_file_atomically(state_path(), encode_state(st), 0600); !ok) {
    spdlog::error("{}: cannot save ({}); applied decisions may be applied again after a restart", state_path(),
                  ok.error().message);
  }
}

void Executor::remember(const std::string& id) {
  if (o_.dry_run) return;
  applied_.insert(id);
  applied_order_.push_back(id);
  while (applied_order_.size() > kMaxApplied) {
    applied_.erase(applied_order_.front());
    applied_order_.pop_front();
  }
}

Executor::Executor(uv_loop_t* loop, ExecutorOptions options)
    : loop_(loop),
      o_(std::move(options)),
      workspace_roots_(artifacts::WorkspaceRoots::create(o_.workspace_roots)),
      children_(std::make_unique<loop::AsyncChildRunner>(loop)) {}

Executor::~Executor() = default;

// Every handle act needs, or a clear error and no start.
core::Result<std::unique_ptr<Executor>> Executor::create(uv_loop_t* loop, ExecutorOptions options) {
  std::unique_ptr<Executor> e(new Executor(loop, std::move(options)));
  for (auto* slot : {&e->reconnect_, &e->stop_deadline_, &e->save_timer_, &e->batch_timer_}) {
    auto t = loop::make_timer(loop, e.get());
    if (!t) return tl::unexpected(t.error());
    *slot = std::move(*t);
  }
  auto reports = report::ReportQueue::create(loop);
  if (!reports) return tl::unexpected(reports.error());
  e->reports_ = std::move(*reports);
  e->load_state();
  return e;
}

void Executor::start() {
  // Timers held across a restart: due ones fire at once.
  for (auto& [id, t] : timers_) arm(t);
  for (auto& [id, w] : waits_) arm(w);
  spdlog::info(
      "medic act socket={} hermes={} state={}{} timers={} waits={} dispatch={} command_timeout={}s hermes_wait={}s "
      "parallel={}",
      o_.socket, o_.hermes, state_path(), o_.dry_run ? " (dry run)" : "", timers_.size(), waits_.size(),
      o_.plan.dispatch, o_.command_timeout.count() / 1000, o_.hermes_wait_s, o_.parallel);
  connect();
}

void Executor::stop(std::function<void()> on_stopped) {
  spdlog::info("stopping{}", busy_.empty() ? "" : " after the " + std::to_string(busy_.size()) + " job(s) in flight");
  on_stopped_ = std::move(on_stopped);
  stopping_ = true;
  conn_.reset();
  reconnect_.reset();
  loop::arm(
      stop_deadline_, [](uv_timer_t* t) { static_cast<Executor*>(t->data)->stopped(); }, 10000, 0, "stop deadline");
  pump();
}

void Executor::stopped() {
  if (!on_stopped_) return;
  auto done = std::move(on_stopped_);
  on_stopped_ = nullptr;
  done();
}

void Executor::shutdown() {
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
  stop_deadline_.reset();
  timers_.clear();  // closes the armed handles; act.json already holds them
  waits_.clear();
}
void Executor::connect() {
  auto pipe = loop::make_pipe(loop_, this);
  if (!pipe) {
    spdlog::error("cannot connect to {}: {}; retrying", o_.socket, pipe.error().message);
    schedule_reconnect();
    return;
  }
  conn_ = std::move(*pipe);
  subscribed_ = false;
  inbuf_.clear();
  auto* req = new uv_connect_t{};
  req->data = this;
  uv_pipe_connect(req, conn_.get(), o_.socket.c_str(), [](uv_connect_t* r, int status) {
    auto* self = static_cast<Executor*>(r->data);
    delete r;
    if (status != 0) {
      spdlog::warn("cannot connect to {}: {}; retrying", self->o_.socket, uv_strerror(status));
      self->schedule_reconnect();
      return;
    }
    self->reconnect_ms_ = 500;
    const int reading = uv_read_start(
        reinterpret_cast<uv_stream_t*>(self->conn_.get()),
        [](uv_handle_t*, size_t suggested, uv_buf_t* buf) {
          buf->base = new char[suggested];
          buf->len = suggested;
        },
        [](uv_stream_t* s, ssize_t n, const uv_buf_t* buf) {
          auto* a = static_cast<Executor*>(s->data);
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
    if (reading != 0) {
      spdlog::warn("cannot read from {}: {}; reconnecting", self->o_.socket, uv_strerror(reading));
      self->schedule_reconnect();
    }
  });
}

void Executor::schedule_reconnect() {
  conn_.reset();
  if (stopping_) return;
  loop::arm(
      reconnect_, [](uv_timer_t* t) { static_cast<Executor*>(t->data)->connect(); }, reconnect_ms_, 0, "reconnect");
  reconnect_ms_ = std::min<std::uint64_t>(reconnect_ms_ * 2, 30000);
}

void Executor::on_line(std::string_view line) {
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
    std::uint64_t since = o_.since ? *o_.since : started_ ? last_seq_ : daemon_last;
    since = std::min(since, daemon_last);  // a journal reset: the daemon refuses a since beyond it
    const std::string req = "{\"op\":\"subscribe\",\"since\":" + std::to_string(since) + "}\n";
    auto* w = new uv_write_t{};
    auto* copy = new std::string(req);
    w->data = copy;
    uv_buf_t b = uv_buf_init(copy->data(), static_cast<unsigned>(copy->size()));
    const int written = uv_write(w, reinterpret_cast<uv_stream_t*>(conn_.get()), &b, 1, [](uv_write_t* r, int) {
      delete static_cast<std::string*>(r->data);
      delete r;
    });
    if (written != 0) {
      // Never queued: its callback does not run.
      delete copy;
      delete w;
      spdlog::warn("cannot subscribe on {}: {}; reconnecting", o_.socket, uv_strerror(written));
      schedule_reconnect();
      return;
    }
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

void Executor::enqueue(const std::string& key, Job job) {
  queues_[key].push_back(std::move(job));
  pump();
}

// start_job can end a job at once (a release whose timer is gone), and job_done erases
// the job's queue and pumps again: so the queues are never iterated while a job starts,
// and a pump asked for during a pump runs after it, not inside it.
void Executor::pump() {
  if (pumping_) {
    pump_again_ = true;
    return;
  }
  pumping_ = true;
  do {
    pump_again_ = false;
    if (stopping_) {
      if (busy_.empty()) stopped();
      break;
    }
    std::vector<std::string> ready;
    for (const auto& [key, q] : queues_) {
      if (busy_.size() + ready.size() >= o_.parallel) break;
      if (!q.empty() && !busy_.count(key)) ready.push_back(key);
    }
    for (const std::string& key : ready) {
      const auto it = queues_.find(key);
      if (busy_.size() >= o_.parallel || it == queues_.end() || it->second.empty() || busy_.count(key)) continue;
      start_job(key);
    }
  } while (pump_again_);
  pumping_ = false;
}

void Executor::job_done(const std::string& key) {
  busy_.erase(key);
  auto it = queues_.find(key);
  if (it != queues_.end() && it->second.empty()) queues_.erase(it);
  mark_dirty();
  pump();
}

void Executor::start_job(const std::string& key) {
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
    show(board, task, 0, [=, this](const TaskView& t) {
      Plan p = plan_release(task, t, overrides, o_.plan);
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
    if (release_at && !o_.dry_run) {
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
                  core::shell_quote(HermesCommand{"unblock", {}, {d.task_id}}.argv(o_.hermes, d.board)).c_str());
      std::fflush(stdout);
    }
    remember(d.id);
    if (auto it = pending_seqs_.find(seq); it != pending_seqs_.end()) pending_seqs_.erase(it);
    flush_reports(d.board, d.workspace);
    job_done(d.board + "/" + d.task_id);
  };
  PlanOptions options = o_.plan;
  if (job.wait_over) options.wait_for_hermes = false;
  // A plan that waits for Hermes holds the decision (act.json) and ends the job.
  auto held = [=, this](const Plan& p) {
    if (!p.wait_for_hermes) return false;
    wait_for_hermes(d);
    settle(std::nullopt);
    return true;
  };
  auto finish = [=, this](Plan p) {
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
      show(d.board, d.task_id, d.run_id, [=, this](const TaskView& t) {
        Plan again = plan(d, t, now_s(), options);
        if (held(again)) return;
        if (again.commands.empty()) spdlog::info("decision={}: converged after Hermes moved the task", d.id);
        for (const auto& n : again.notes) spdlog::info("decision={}: {}", d.id, n);
        const auto release = again.release_at;
        run_commands(d.id, d.board, d.task_id, std::move(again.commands), [=] { settle(release); });
      });
    });
  };
  if (d.action == Action::RepairAuth && !o_.profile_home.empty()) {
    run_preflight(d, [=, this](bool repaired, const std::string& why) {
      show(d.board, d.task_id, d.run_id, [=](const TaskView& t) { finish(plan_after_preflight(d, t, repaired, why)); });
    });
    return;
  }
  show(d.board, d.task_id, d.run_id, [=, this](const TaskView& t) {
    Plan p = plan(d, t, now, options);
    if (p.wait_for_hermes && o_.dry_run) {
      // A dry run holds nothing: it shows the wait, then what would follow it.
      std::printf("# waits for Hermes to end run %lld of %s (at most %lld s), then:\n",
                  static_cast<long long>(d.run_id), d.task_id.c_str(), static_cast<long long>(o_.hermes_wait_s));
      std::fflush(stdout);
      PlanOptions after = options;
      after.wait_for_hermes = false;
      p = plan(d, t, now, after);
    }
    finish(std::move(p));
  });
}

void Executor::wait_for_hermes(const decide::Decision& d) {
  if (o_.dry_run) return;
  auto [it, fresh] = waits_.try_emplace(d.id);
  Wait& w = it->second;
  if (fresh) {
    w.st = WaitState{
        d.id, d.board, d.task_id, d.run_id, d.workspace, publish::encode_decision(d, 0), now_s() + o_.hermes_wait_s};
    spdlog::info("decision={} waits up to {} s for Hermes to end run {}", d.id, o_.hermes_wait_s, d.run_id);
  }
  arm(w);
  mark_dirty();
}

void Executor::arm(Wait& w) {
  w.self = this;
  if (!w.handle) {
    auto h = loop::make_timer(loop_, &w);
    if (!h) {
      spdlog::error("decision={}: {}; it is planned again at the next start", w.st.decision_id, h.error().message);
      return;
    }
    w.handle = std::move(*h);
  }
  uv_update_time(loop_);
  const std::int64_t delay_ms = std::max<std::int64_t>(0, w.st.until * 1000 - wall_ms());
  loop::arm(
      w.handle,
      [](uv_timer_t* th) {
        auto* w = static_cast<Wait*>(th->data);
        const std::string id = w->st.decision_id;
        Executor* self = w->self;
        if (self->stopping_) return;  // act.json keeps it: the next start plans it
        spdlog::info(
            "decision={}: Hermes did not end the run within {} s (is its dispatcher running?); applying "
            "it without Hermes's word",
            id, self->o_.hermes_wait_s);
        self->replan(id, true);
      },
      static_cast<std::uint64_t>(delay_ms), 0, "wait for Hermes");
}

void Executor::replan(const std::string& decision_id, bool wait_over) {
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

void Executor::show(const std::string& board, const std::string& task, std::int64_t run,
                    std::function<void(const TaskView&)> then, int again) {
  const auto argv = HermesCommand{"show", {{"json", ""}}, {task}}.argv(o_.hermes, board);
  const std::string key = board + "/" + task;
  const std::uint64_t moves = moves_.count(key) ? moves_[key] : 0;
  children_->run(argv, {"HERMES_KANBAN_BOARD=" + board}, o_.command_timeout,
                 [=, this, then = std::move(then)](loop::ChildOutcome r) mutable {
                   if (auto m = moves_.find(key); m != moves_.end() && m->second != moves && again < 2) {
                     // Hermes ended a run of this task while it was being read: read it again.
                     spdlog::info("task={} moved by Hermes while act read it; reading it again", key);
                     show(board, task, run, std::move(then), again + 1);
                     return;
                   }
                   if (r.exit_code != 0) {
                     spdlog::warn("`{}` exited {}{}: {}", core::shell_quote(argv), r.exit_code,
                                  r.timed_out ? " (killed: over the command timeout)" : "", last_line(r.output));
                   }
                   then(r.exit_code == 0 ? parse_show(r.output, run) : TaskView{});
                 });
}

void Executor::run_commands(const std::string& decision_id, const std::string& board, const std::string& task,
                            std::vector<HermesCommand> commands, std::function<void()> then) {
  if (commands.empty()) {
    then();
    return;
  }
  const HermesCommand c = commands.front();
  commands.erase(commands.begin());
  if (c.verb == "dispatch" && !o_.dry_run) {
    // One dispatcher pass per board for the releases and completes of the same 20 ms: a
    // pass is a whole Hermes tick, and twenty tasks released at one reset need one.
    request_dispatch(decision_id, board, task, workspace_of_.count(decision_id) ? workspace_of_[decision_id] : "");
    run_commands(decision_id, board, task, std::move(commands), std::move(then));
    return;
  }
  const std::vector<std::string> argv = c.argv(o_.hermes, board);
  const std::string shown = core::shell_quote(argv);
  if (o_.dry_run) {
    std::printf("%s\n", shown.c_str());
    std::fflush(stdout);
    run_commands(decision_id, board, task, std::move(commands), std::move(then));
    return;
  }
  children_->run(
      argv, {"HERMES_KANBAN_BOARD=" + board}, o_.command_timeout,
      [=, this, commands = std::move(commands), then = std::move(then)](const loop::ChildOutcome& r) mutable {
        record(decision_id, task, shown, r);
        run_commands(decision_id, board, task, std::move(commands), std::move(then));
      });
}

// One command's outcome: counted, logged (a failure with its timeout and its last line of
// output) and added to the state reports' rows.
void Executor::record(const std::string& decision_id, const std::string& task, const std::string& shown,
                      const loop::ChildOutcome& r) {
  ++commands_;
  if (r.exit_code == 0) {
    spdlog::info("decision={} ran `{}` exit=0", decision_id, shown);
  } else {
    ++failed_commands_;
    spdlog::warn("decision={} ran `{}` exit={}{} output=\"{}\"", decision_id, shown, r.exit_code,
                 r.timed_out ? " (killed: over the command timeout)" : "", last_line(r.output));
  }
  pending_rows_.push_back(report::CommandRow{decision_id, now_s(), task, shown, r.exit_code, last_line(r.output)});
}

// The seed article's preflight in the task's profile HOME.
void Executor::run_preflight(const decide::Decision& d, std::function<void(bool, const std::string&)> then) {
  if (d.assignee.empty()) {
    spdlog::warn("decision={} repair_auth: the task has no assignee, so no profile HOME; next: {}", d.id,
                 d.next_command);
    then(false, "the task has no assignee");
    return;
  }
  // The template's fixed part, up to the directory that holds "{assignee}", is the
  // operator's; everything from the assignee on is resolved beneath it without a link
  // (preflight --beneath), and the assignee itself is a valid Hermes profile name.
  std::string home = o_.profile_home;
  const std::size_t first = home.find("{assignee}");
  const std::string beneath =
      first == std::string::npos ? home : fs::path(home.substr(0, first)).parent_path().string();
  for (std::size_t p; (p = home.find("{assignee}")) != std::string::npos;) home.replace(p, 10, d.assignee);
  const std::vector<std::string> argv{o_.preflight_program, "preflight", "--beneath=" + beneath,
                                      "--profile-home=" + home};
  if (o_.dry_run) {
    std::printf("%s\n", core::shell_quote(argv).c_str());
    then(false, "dry run");
    return;
  }
  children_->run(argv, {}, o_.command_timeout, [=, this, then = std::move(then)](const loop::ChildOutcome& r) {
    record(d.id, d.task_id, core::shell_quote(argv), r);
    then(r.exit_code == 0, last_line(r.output));
  });
}

// The timer's delay comes from the wall clock, and libuv's cached loop time is refreshed
// first (it goes stale while a callback runs); a timer that fires early, by the wall
// clock, is re-armed for the rest, so an unblock never comes before retry_at.
void Executor::arm(Timer& t) {
  t.self = this;
  if (!t.handle) {
    auto h = loop::make_timer(loop_, &t);
    if (!h) {
      // Kept in act.json: the next start arms it again.
      spdlog::error("decision={} timer not armed: {}", t.decision_id, h.error().message);
      return;
    }
    t.handle = std::move(*h);
  }
  uv_update_time(loop_);
  const std::int64_t target = t.pre_read_asked ? t.at * 1000 : t.at * 1000 - kPreReadMs;
  const std::int64_t delay_ms = std::max<std::int64_t>(0, target - wall_ms());
  loop::arm(
      t.handle,
      [](uv_timer_t* th) {
        auto* t = static_cast<Timer*>(th->data);
        const std::string id = t->decision_id;
        t->self->fire(id);
      },
      static_cast<std::uint64_t>(delay_ms), 0, "release timer");
}

void Executor::fire(const std::string& decision_id) {
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
    loop::arm(
        batch_timer_, [](uv_timer_t* th) { static_cast<Executor*>(th->data)->release_due(); }, 0, 0, "release batch");
  }
}

void Executor::release_due() {
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
    std::vector<HermesCommand> commands{HermesCommand{"unblock", {}, tasks}};
    if (o_.plan.dispatch) commands.push_back(HermesCommand{"dispatch", {}, {}});
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

void Executor::request_dispatch(const std::string& decision_id, const std::string& board, const std::string& task,
                                const std::string& workspace) {
  DispatchSlot& d = dispatches_[board];
  if (d.timer && uv_is_active(d.timer.handle())) return;  // one is coming already
  d.self = this;
  d.board = board;
  d.decision_id = decision_id;
  d.task = task;
  d.workspace = workspace;
  if (!d.timer) {
    auto h = loop::make_timer(loop_, &d);
    if (!h) {
      spdlog::error("decision={} dispatch not scheduled: {}", decision_id, h.error().message);
      return;
    }
    d.timer = std::move(*h);
  }
  loop::arm(
      d.timer,
      [](uv_timer_t* t) {
        auto* slot = static_cast<DispatchSlot*>(t->data);
        Executor* self = slot->self;
        const std::string board = slot->board, id = slot->decision_id, task = slot->task, workspace = slot->workspace;
        const std::vector<std::string> argv = HermesCommand{"dispatch", {}, {}}.argv(self->o_.hermes, board);
        self->children_->run(argv, {"HERMES_KANBAN_BOARD=" + board}, self->o_.command_timeout,
                             [self, board, id, task, workspace, argv](const loop::ChildOutcome& r) {
                               self->record(id, task, core::shell_quote(argv), r);
                               self->flush_reports(board, workspace);
                             });
      },
      20, 0, "dispatch");
}

void Executor::flush_reports(const std::string& board, const std::string& workspace) {
  if (pending_rows_.empty() || o_.dry_run) return;
  report::Update u;
  u.commands = std::move(pending_rows_);
  pending_rows_.clear();
  std::vector<report::Location> where;
  if (core::valid_board_slug(board))
    where.push_back(report::Location{o_.state_dir, "", "state/" + board + "/PROJECT_STATE.md"});
  // The workspace report under the daemon's rule (DESIGN.md §6b): beneath an allowed root,
  // reached without a link, or not written at all.
  if (!workspace.empty()) {
    auto ws = artifacts::report_location(workspace_roots_, workspace);
    if (!ws)
      spdlog::warn("state report in workspace={} not written: {}", workspace, ws.error().message);
    else if (*ws)
      where.push_back(**ws);
  }
  // Written off the loop thread, paced per file (ReportQueue), like the daemon's.
  for (auto& loc : where) {
    for (const char* ext : {".md", ".html"}) {
      loc.file = loc.file.substr(0, loc.file.rfind('.')) + ext;
      reports_->add(loc, u);
    }
  }
}

}  // namespace medic::act
