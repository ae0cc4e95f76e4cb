#include "app/daemon.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <csignal>
#include <algorithm>
#include <filesystem>
#include <map>
#include <set>

#include "app/rule_loading.h"
#include "app/rule_reloader.h"
#include "app/run_decider.h"
#include "app/run_exits.h"
#include "core/beneath.h"
#include "core/clock.h"
#include "core/ids.h"
#include "core/json_writer.h"
#include "core/text.h"
#include "core/unique_fd.h"
#include "decide/run_tracker.h"
#include "kanban/board_reader.h"
#include "kanban/board_set.h"
#include "loop/handles.h"
#include "loop/uv_handle.h"
#include "match/matcher.h"
#include "publish/decision_codec.h"
#include "publish/journal.h"
#include "publish/outbox.h"
#include "publish/unix_socket_publisher.h"
#include "report/report_queue.h"
#include "state/checkpoint.h"
#include "state/checkpoint_writer.h"
#include "state/state_dir_lock.h"
#include "tail/log_follower.h"
#include "watch/inotify_watcher.h"

namespace medic::app {
namespace {

namespace fs = std::filesystem;
using core::EpochSeconds;

// Hermes ends each run's log with this line (quiet_single_query.py
// KANBAN_WORKER_EXIT_TRAILER); medic compiles it into the database as a context rule so
// the exit is found in the same Hyperscan pass as the failures, in byte order.
constexpr const char* kTrailerRuleId = "medic-exit-trailer";

rules::Rule trailer_rule() {
  rules::Rule r;
  r.id = kTrailerRuleId;
  r.pattern = R"(^\[kanban-worker-exit\] rc=-?\d+)";
  r.extract.push_back(rules::Extractor{"rc", {R"(rc=(-?\d+))"}, {rules::SourceLocation{}}});
  r.where.file = "<built-in>";
  return r;
}

// Loads and compiles the rule set with the built-in trailer rule appended: one compile
// (or one cache hit) per start or reload.
LoadedRules load_daemon_rules(const std::optional<std::string>& dir) { return load_rules(dir, {trailer_rule()}); }

// A log's position as the follower keeps it, and as the checkpoint writes it.
tail::LogFollower::Saved saved_of(const state::FileState& f) {
  return tail::LogFollower::Saved{core::FileId{f.dev, f.ino}, f.offset, f.line, f.fingerprint};
}
state::FileState file_state(const std::string& path, const tail::LogFollower::Saved& at, const std::string& board) {
  return state::FileState{path, at.id.dev, at.id.ino, at.offset, at.line, at.fingerprint, board};
}

// The composition root of `medic run`: it owns the modules, wires their callbacks and runs
// the ordered start-up steps and the one teardown. Data flows left to right:
//   boards (kanban::BoardSet) and logs (tail::LogFollower)
//     -> the run tracker (decide::RunTracker), with RunExits for trailers and pid deaths
//     -> RunDecider (facts, acceptance, the engine)
//     -> the outbox (journal, then socket) and the state reports.
class Daemon {
 public:
  Daemon(DaemonOptions options, std::unique_ptr<match::PatternDb> db, match::Matcher matcher, publish::Journal journal,
         decide::DecidedSet decided)
      : options_(std::move(options)),
        db_(std::move(db)),
        matcher_(std::move(matcher)),
        journal_(std::move(journal)),
        tracker_(decide::TrackerOptions{options_.exit_event_wait_s, options_.forget_tasks_idle_s,
                                        options_.max_tasks_at_rest,
                                        std::min<std::int64_t>(kForgetMinIdleS, options_.forget_tasks_idle_s)}) {
    tracker_.adopt_decided(std::move(decided));
  }

  int run();

 private:
  using Board = kanban::BoardSet::Board;
  static std::string run_key(const std::string& board, const std::string& task) { return board + "/" + task; }

  // Start-up steps, in the order run() takes them, and the one teardown.
  core::Result<void> start_loop();
  core::Result<void> start_state();
  core::Result<void> start_root();
  core::Result<void> start_handles();
  core::Result<void> start_watching();
  core::Result<void> start_reading();
  core::Result<void> start_publishing();
  void teardown();

  // Sources -> the run tracker.
  void on_board_event(Board& b, const kanban::KanbanEvent& e);
  void on_board_caught_up(Board& b);
  std::int64_t first_cursor(Board& b, kanban::BoardReader& reader);
  void on_hits(const tail::LogFollower::Log& log, std::vector<match::Hit>& hits);
  void on_overflow();
  bool drain_board(Board& b) { return b.events->drain(); }  // false: locked; read again soon
  Board* board(const std::string& slug) { return boards_ ? boards_->find(slug) : nullptr; }  // null: gone
  const kanban::TaskRow* refresh_row(Board& b, const std::string& task);
  // What the tracker answered -> exits to watch or wait for, runs to decide.
  void apply(Board& b, const std::string& task, decide::Effects fx);
  void decide_run(Board& b, const std::string& task, decide::DecideRun d);
  void check_blocked_family(Board& b, const std::string& task);
  bool refuse_once(const std::string& key, const std::string& message);

  // Rules: a change in the rules dir (or SIGHUP) recompiles off the loop.
  void watch_rules();
  void reload_rules() { reloader_->request(); }
  void on_rules_loaded(LoadedRules loaded);

  // Tasks at rest for long, and attempt counts out of every window, are forgotten; logs
  // idle for a sweep whose task is at rest are parked (closed, kept as a position).
  void forget_idle();
  static constexpr std::int64_t kForgetMinIdleS = 600;

  // State: the checkpoint, and the socket's hello.
  state::Checkpoint snapshot() const;
  std::optional<state::Checkpoint> parked_snapshot(bool again);
  void save_state();      // off the loop thread (checkpoints_)
  void save_state_now();  // at shutdown
  void load_state();
  std::string hello() const;

  // Fixed at construction.
  DaemonOptions options_;
  std::unique_ptr<match::PatternDb> db_;  // swapped by a reload
  match::Matcher matcher_;
  publish::Journal journal_;
  core::SystemClock clock_;
  // The loop and what start_root opened.
  uv_loop_t loop_storage_{};
  uv_loop_t* loop_ = nullptr;
  core::UniqueFd root_fd_;  // the Hermes root (operator-trusted)
  artifacts::WorkspaceRoots workspace_roots_;
  // Sources.
  watch::WatcherPtr watcher_;
  std::optional<kanban::BoardSet> boards_;  // every board under the root, and its logs dir
  std::optional<tail::LogFollower> logs_;   // every worker log: bytes in, hits out
  std::optional<watch::WatchId> rules_watch_;
  // The engine.
  decide::RunTracker tracker_;                   // the run lifecycle (pure)
  std::optional<RunExits> exits_;                // trailers, pid deaths and the waits they need
  std::map<std::string, kanban::TaskRow> rows_;  // by board/task: the row as last read
  std::optional<RunDecider> decider_;            // ended runs -> acceptance -> decisions
  std::optional<RuleReloader> reloader_;         // compiles on the threadpool, swaps on the loop
  // Sinks.
  std::optional<publish::Outbox> outbox_;  // journal, then socket, in order
  std::unique_ptr<publish::UnixSocketPublisher> publisher_;
  std::unique_ptr<report::ReportQueue> reports_;
  std::optional<state::CheckpointWriter> checkpoints_;  // state.json, written off the loop
  // Handles of the daemon's own.
  loop::UvHandle<uv_signal_t> sigint_, sigterm_, sighup_;
  loop::UvHandle<uv_timer_t> checkpoint_timer_;
  loop::UvHandle<uv_timer_t> reload_timer_;
  loop::UvHandle<uv_timer_t> forget_timer_;
  // State.
  bool read_ = false;  // the boards and logs were read at start: the state is whole
  bool state_dirty_ = false;
  // The checkpoint was lost or damaged: boards are read from before the last decision and
  // logs without a saved offset are history (see load_state).
  bool rebuild_ = false;
  static constexpr std::int64_t kRebuildMarginS = 120;
  // Saved positions from the last run, for the log follower and the board set.
  std::map<std::string, tail::LogFollower::Saved> saved_files_;
  std::vector<state::FileState> saved_parked_;  // from parked.json
  std::uint64_t parked_written_ = 0;            // the parked_version() last handed to the checkpoint
  std::map<std::string, std::int64_t> saved_cursors_;
  // Names refused once (a bad task id, board slug or log name; a log that is a link or a
  // FIFO): each is logged the first time only, and counted.
  std::set<std::string> refused_once_;
  static constexpr std::size_t kMaxRefusedNames = 10000;
  bool refused_capped_ = false;
  // Counters (logged at shutdown).
  std::uint64_t malformed_events_ = 0;
  std::uint64_t refused_ = 0;  // names and files refused (bad ids, links, FIFOs, workspaces)
};

bool Daemon::refuse_once(const std::string& key, const std::string& message) {
  if (refused_once_.count(key)) return false;
  ++refused_;
  // Workers choose these names: the set is bounded. Past it, a new name is counted and not
  // logged (said once), so a flood of bad names costs neither memory nor a line per write.
  if (refused_once_.size() >= kMaxRefusedNames) {
    if (!refused_capped_) {
      refused_capped_ = true;
      spdlog::warn("{} names refused so far: further refusals are counted (refused= in the stop line), not logged",
                   refused_once_.size());
    }
    return false;
  }
  refused_once_.insert(key);
  spdlog::warn("{}", message);
  return true;
}

// The rules dir, when --rules is given: a change reloads the rules (debounced). Tried again
// at each rescan of the boards, for a rules dir made (or made anew) since.
void Daemon::watch_rules() {
  if (!options_.rules_dir || rules_watch_) return;
  auto id = watcher_->add(
      *options_.rules_dir,
      [this](std::string_view, watch::Watcher::Change) {
        // Debounce: editors write several files in a burst.
        loop::arm(
            reload_timer_, [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->reload_rules(); }, 200, 0,
            "rules reload debounce");
      },
      [this] {
        spdlog::warn("rules dir={} went away; the rules in use stay, and it is watched for again", *options_.rules_dir);
        rules_watch_.reset();
        watch_rules();
      });
  if (id) {
    rules_watch_ = *id;
  } else if (id.error().code != core::ErrorCode::NotFound) {
    spdlog::error("watch failed: {}", id.error().message);
  }
}

void Daemon::on_overflow() {
  // The kernel dropped events: any change may have been missed. Look at everything again.
  spdlog::warn("inotify queue overflowed (overflows={}): rescanning every board and log", watcher_->overflows());
  boards_->read_all();
  logs_->read_all();
}

void Daemon::apply(Board& b, const std::string& task, decide::Effects fx) {
  const std::string key = run_key(b.slug, task);
  if (fx.reread_row) refresh_row(b, task);
  if (fx.finished_run != 0)
    spdlog::info("run={}/{} ended with the worker's own Kanban call: no decision", key, fx.finished_run);
  if (fx.hermes_ended) {
    // Hermes's word on a run medic decided before Hermes ended it: act waits for it before
    // it completes such a run, so Hermes records the run as it ended.
    publish::RunEnded r{fx.hermes_ended->decision_id, b.slug,      task, fx.hermes_ended->run_id,
                        fx.hermes_ended->kind,        clock_.now()};
    spdlog::info("run={} decided earlier; Hermes has now ended it ({})", r.decision_id, r.event);
    outbox_->publish([r = std::move(r)](std::uint64_t seq) { return publish::encode_run_ended(r, seq); });
  }
  if (fx.unwatch_pid) exits_->unwatch_pid(b.slug, task);
  if (fx.watch_pid) exits_->watch_pid(b.slug, task, *fx.watch_pid);
  if (fx.cancel_wait) exits_->cancel_wait(b.slug, task);
  if (fx.wait_until) exits_->arm_wait(b.slug, task, *fx.wait_until);
  for (auto& d : fx.decide) decide_run(b, task, std::move(d));
  if (fx.task_blocked) check_blocked_family(b, task);
}

// Reads the board's pending events now, unless they are being read already (this call
// then comes from inside that read, which goes on in order).
const kanban::TaskRow* Daemon::refresh_row(Board& b, const std::string& task) {
  if (!b.events->reader()) return nullptr;
  auto r = b.events->reader()->task(task);
  if (!r || !*r) return nullptr;
  auto& slot = rows_[run_key(b.slug, task)];
  slot = std::move(**r);
  return &slot;
}

// Where a board read for the first time starts.
std::int64_t Daemon::first_cursor(Board& b, kanban::BoardReader& reader) {
  if (rebuild_ && journal_.last_decided_at() > 0) {
    // The checkpoint was lost: read again from a little before the last decision; the
    // journal keeps what was decided since from being decided twice.
    auto at = reader.last_event_before(journal_.last_decided_at() - kRebuildMarginS);
    const std::int64_t cursor = at ? *at : 0;
    spdlog::warn("board={} cursor rebuilt: reading from event {} (the last decision was at {})", b.slug, cursor + 1,
                 journal_.last_decided_at());
    return cursor;
  }
  // First start on this board: decide only what happens from now on.
  auto last = reader.last_event_id();
  return last ? *last : 0;
}

// The board has said its say: the exits that waited for it are decided now.
void Daemon::on_board_caught_up(Board& b) { exits_->on_caught_up(b.slug); }

void Daemon::on_board_event(Board& b, const kanban::KanbanEvent& e) {
  if (!core::valid_task_id(e.task_id)) {
    // A task id becomes a log path and a `hermes` argument: one outside Hermes's
    // grammar ("../../x", "-h") is never used for either.
    refuse_once("task:" + b.slug + "/" + e.task_id,
                "board=" + b.slug + " event=" + std::to_string(e.id) +
                    " refused: task id is not a Hermes task id (t_[a-z0-9_-]+); its events are skipped");
    return;
  }
  if (e.malformed) {
    ++malformed_events_;
    spdlog::warn("board={} event={} kind={} task={} payload is not a JSON object; its kind and run still count", b.slug,
                 e.id, e.kind, e.task_id);
  }
  if (e.kind == "created" || e.kind == "linked") {
    check_blocked_family(b, e.task_id);
    return;
  }
  if (decide::is_run_ending_kind(e.kind) || e.kind == "gave_up") {
    // The log may hold the worker's last bytes still unread, or be a file whose
    // creation inotify has not reported yet: read it first.
    logs_->finish(b.slug, b.logs_dir, e.task_id);
  }
  decide::RunEvent re;
  re.kind = e.kind;
  re.run_id = e.run_id;
  re.at = e.created_at;
  re.pid = e.pid;
  re.started_at = e.started_at;
  re.exit_code = e.exit_code;
  re.reason = e.reason;
  if (e.kind == "gave_up" && !re.run_id && tracker_.current_run(run_key(b.slug, e.task_id)) == 0) {
    // Hermes writes gave_up with no run (kanban_db.py:7911). A task medic holds no run of
    // (forgotten at rest, or ended before this start) takes the board's newest run: the
    // one after which Hermes gave up.
    // Not a run started after the event: reading a backlog, the row may already show a
    // later run, which this gave_up is not about.
    if (const kanban::TaskRow* row = refresh_row(b, e.task_id);
        row && row->last_run_started_at.value_or(0) <= e.created_at)
      re.run_id = row->last_run_id ? row->last_run_id : row->current_run_id;
  }
  apply(b, e.task_id, tracker_.on_event(run_key(b.slug, e.task_id), re, clock_.now()));
}

void Daemon::on_hits(const tail::LogFollower::Log& f, std::vector<match::Hit>& hits) {
  const std::string key = run_key(f.board, f.task_id);
  for (match::Hit& h : hits) {
    const rules::Rule& rule = db_->rule(h.rule);
    if (rule.id == kTrailerRuleId && h.offset < f.history_end) {
      tracker_.on_history_trailer(key);
      continue;
    }
    if (rule.id == kTrailerRuleId) {
      int rc = -1;
      if (const auto* v = match::find_field(h.fields, "rc")) {
        if (const auto* i = std::get_if<std::int64_t>(v)) rc = static_cast<int>(*i);
      }
      if (board(f.board)) exits_->on_trailer(f.board, f.task_id, rc);
      continue;
    }
    decide::Evidence e;
    e.rule = rule.id;
    e.failure_class = rule.failure_class;
    e.priority = rule.priority;
    e.path = f.path;
    e.line = h.line;
    e.text = std::move(h.text);
    e.fields = std::move(h.fields);
    spdlog::trace("hit task={} rule={} line={}", f.task_id, rule.id, h.line);
    tracker_.on_hit(key, std::move(e));
  }
  hits.clear();
}

void Daemon::decide_run(Board& b, const std::string& task, decide::DecideRun d) {
  const std::string key = run_key(b.slug, task);
  // The task row as of now: Hermes sets workspace_path after the claim, with no event.
  const kanban::TaskRow* row = nullptr;
  if (auto it = rows_.find(key); d.run_id != 0 && it != rows_.end() && !it->second.workspace_path.empty())
    row = &it->second;
  if (!row) row = refresh_row(b, task);
  if (!row) {
    if (auto it = rows_.find(key); it != rows_.end()) row = &it->second;
  }
  decider_->decide_run(b.slug, b.events->reader(), task, std::move(d), row);
}

void Daemon::check_blocked_family(Board& b, const std::string& task) {
  if (b.events->reader()) decider_->check_blocked_family(b.slug, *b.events->reader(), task);
}

std::string Daemon::hello() const {
  std::string out;
  core::JsonWriter w(out);
  w.begin_object();
  w.key("type").value("hello");
  w.key("version").value(MEDIC_VERSION);
  w.key("last_seq").value(static_cast<std::int64_t>(journal_.last_seq()));
  w.key("pid").value(static_cast<std::int64_t>(::getpid()));
  w.end_object();
  return out;
}

// The reloaded set is swapped in only when it compiled and the matcher took it: a set with
// errors is refused with every diagnostic, and the running rules are kept.
void Daemon::on_rules_loaded(LoadedRules loaded) {
  if (!loaded.db) {
    for (const auto& d : loaded.diagnostics) spdlog::error("rules reload refused: {}", rules::format(d));
    spdlog::error("rules reload refused: {} problem(s); the running rules are kept", loaded.diagnostics.size());
    return;
  }
  if (auto p = matcher_.prepare(*loaded.db); !p) {
    spdlog::error("rules reload: {}", p.error().message);
    return;
  }
  // Every stream restarts on the new database at its unterminated line's start, and the
  // tailer re-reads from there: each line is scanned once, by one rule set.
  logs_->switch_db(*loaded.db);
  db_ = std::move(loaded.db);
  spdlog::info("rules reloaded rules={}", db_->rules().rules.size());
  logs_->read_all();
}

// The parked logs' positions, for the checkpoint's side file: only when they changed
// since last handed over (or `again`, after a failed write of them).
std::optional<state::Checkpoint> Daemon::parked_snapshot(bool again) {
  if (!logs_ || (!again && logs_->parked_version() == parked_written_)) return std::nullopt;
  parked_written_ = logs_->parked_version();
  state::Checkpoint cp;
  cp.files.reserve(logs_->parked());
  logs_->for_each_parked([&cp](const std::string& board, const std::string& path, const tail::LogFollower::Saved& at) {
    cp.files.push_back(file_state(path, at, board));
  });
  return cp;
}

state::Checkpoint Daemon::snapshot() const {
  state::Checkpoint cp;
  if (boards_) cp.cursors = boards_->cursors();
  for (const auto& [path, at] : logs_->positions()) {
    cp.files.push_back(file_state(path, at, {}));
  }
  cp.unhealthy_until = decider_->engine().unhealthy_until;
  cp.attempts = decider_->engine().attempts;
  for (auto& [key, r] : tracker_.save()) {
    cp.runs.push_back(
        state::RunState{key, r.run_id, r.started_at, r.provider, std::move(r.evidence), r.live, r.finished});
  }
  return cp;
}

void Daemon::forget_idle() {
  const core::EpochSeconds now = clock_.now();
  const std::vector<std::string> gone = tracker_.forget_idle(now);
  for (const auto& key : gone) rows_.erase(key);
  const std::size_t counts = decide::forget_expired_attempts(decider_->engine(), options_.policy, now);
  // Logs idle since the last sweep whose task is at rest: closed, kept as their position.
  const std::size_t parked = logs_->park_idle(
      [this](const tail::LogFollower::Log& log) { return tracker_.at_rest(run_key(log.board, log.task_id)); });
  if (gone.empty() && counts == 0 && parked == 0) return;
  state_dirty_ = true;  // the checkpoint drops them too
  spdlog::debug(
      "forgot {} idle task(s) and {} expired attempt count(s); {} task(s) kept; parked {} idle log(s), "
      "{} open, {} parked",
      gone.size(), counts, tracker_.size(), parked, logs_->size(), logs_->parked());
}

void Daemon::save_state() {
  state_dirty_ = false;
  checkpoints_->save();
}

void Daemon::save_state_now() {
  // The checkpoint names the last decision journaled; it is written only once that
  // decision is on disk, as the checkpoint writer does off the loop. The write in flight
  // lands first: its journal sync, if it fails, marks the segment unsynced for this one.
  checkpoints_->wait();
  if (auto synced = journal_.sync(); !synced) {
    spdlog::error("checkpoint not written: journal {}", synced.error().message);
    return;
  }
  if (auto ok = checkpoints_->save_now(); !ok) spdlog::error("checkpoint not written: {}", ok.error().message);
  state_dirty_ = false;
}

void Daemon::load_state() {
  // The parked logs' positions first: state.json's own entry for a log, when it has one,
  // is newer (the log was reopened after it was parked).
  if (auto side = state::load(checkpoints_->side_path()); side && *side) {
    saved_parked_ = std::move((*side)->checkpoint.files);
    spdlog::info("parked logs loaded path={} files={}", checkpoints_->side_path(), saved_parked_.size());
  } else if (!side) {
    spdlog::warn("parked logs unreadable path={} ({}): those logs are read as history", checkpoints_->side_path(),
                 side.error().message);
  }
  const std::string& path = checkpoints_->path();
  auto loaded = state::load(path);
  if (loaded && !*loaded) {
    // No checkpoint, but decisions in the journal: the checkpoint was lost (deleted, or a
    // state dir restored without it). Rebuild rather than start afresh.
    if (journal_.last_seq() > 0) {
      rebuild_ = true;
      spdlog::warn(
          "checkpoint missing path={} but the journal holds {} message(s): rebuilding from the journal and "
          "the boards",
          path, journal_.last_seq());
    }
    return;
  }
  if (!loaded) {
    // Rebuilt conservatively from what outlives it: the journal (what was decided, and
    // until when) and the boards (which runs ended and which are live). Boards are read
    // again from a little before the last decision; logs without a saved offset are read
    // as history, whose trailers are run boundaries, not exits to decide; so no live run
    // is decided, and a run that ended while medic was down is decided from Hermes's event.
    rebuild_ = true;
    spdlog::error(
        "checkpoint unreadable path={} ({}): rebuilding from the journal (last decision at {}) and the boards", path,
        loaded.error().message, journal_.last_decided_at());
    return;
  }
  auto& parsed = *loaded;
  state::Checkpoint& cp = parsed->checkpoint;
  saved_cursors_ = cp.cursors;
  for (const auto& f : cp.files) {
    saved_files_[f.path] = saved_of(f);
  }
  decider_->engine().unhealthy_until = cp.unhealthy_until;
  decider_->engine().attempts = cp.attempts;
  for (auto& r : cp.runs) {
    decide::RunTracker::Saved saved{r.run_id, r.started_at, r.provider, {}, r.live, r.finished};
    for (auto& ev : r.evidence) {
      // Class and priority come from the current rules, by id.
      for (const auto& rule : db_->rules().rules) {
        if (rule.id == ev.rule) {
          ev.failure_class = rule.failure_class;
          ev.priority = rule.priority;
        }
      }
      saved.evidence.push_back(std::move(ev));
    }
    tracker_.restore(r.key, std::move(saved));
  }
  if (parsed->bad_entries > 0)
    spdlog::warn("checkpoint path={} malformed_entries={} skipped", path, parsed->bad_entries);
  spdlog::info("checkpoint loaded boards={} files={} runs={}", saved_cursors_.size(), saved_files_.size(),
               cp.runs.size());
}

// Start-up, in order (Falco's app/actions): each step either succeeds or names what failed,
// and the first failure ends the start; the teardown then runs whatever the start got to.
// The socket opens last: a client that can connect knows every board is being read from
// its cursor (a decision made before that is journaled and replayed with since).
int Daemon::run() {
  struct Step {
    const char* name;
    core::Result<void> (Daemon::*run)();
  };
  static constexpr Step kSteps[] = {
      {"event loop", &Daemon::start_loop},   {"state", &Daemon::start_state},
      {"Hermes root", &Daemon::start_root},  {"signals and timers", &Daemon::start_handles},
      {"watches", &Daemon::start_watching},  {"boards and logs", &Daemon::start_reading},
      {"socket", &Daemon::start_publishing},
  };
  int rc = 0;
  for (const Step& step : kSteps) {
    if (auto ok = (this->*step.run)(); !ok) {
      spdlog::critical("{}: {}", step.name, ok.error().message);
      rc = 2;
      break;
    }
  }
  if (rc == 0) {
    spdlog::info("medic running root={} socket={} state={} rules={} last_seq={}", options_.hermes_root,
                 options_.socket_path, options_.state_dir, db_->rules().rules.size(), journal_.last_seq());
    uv_run(loop_, UV_RUN_DEFAULT);
    // Decisions whose acceptance check is still running are published before the stop.
    // A rules compile still on the threadpool is waited for too (its result is dropped): its
    // callback must not run into the teardown.
    reloader_->stop();
    while (decider_->checking() || reloader_->busy()) uv_run(loop_, UV_RUN_ONCE);
  }
  teardown();
  return rc;
}

core::Result<void> Daemon::start_loop() {
  if (auto ok = loop::check(uv_loop_init(&loop_storage_), "uv_loop_init"); !ok) return ok;
  loop_ = &loop_storage_;
  loop_->data = this;
  exits_.emplace(loop_, tracker_, clock_,
                 RunExits::Callbacks{[this](const std::string& board) { return this->board(board) != nullptr; },
                                     [this](const std::string& board) {
                                       Board* b = this->board(board);
                                       return !b || drain_board(*b);
                                     },
                                     [this](const std::string& board) {
                                       if (Board* b = this->board(board)) b->events->read_soon();
                                     },
                                     [this](const std::string& board, const std::string& task) {
                                       if (Board* b = this->board(board)) logs_->finish(board, b->logs_dir, task);
                                     },
                                     [this](const std::string& board, const std::string& task, decide::Effects fx) {
                                       if (Board* b = this->board(board)) apply(*b, task, std::move(fx));
                                     }});
  reloader_.emplace(
      loop_, [dir = options_.rules_dir] { return load_daemon_rules(dir); },
      [this](LoadedRules loaded) { on_rules_loaded(std::move(loaded)); });
  decider_.emplace(loop_, options_, workspace_roots_, tracker_, clock_);
  checkpoints_.emplace(loop_, options_.state_dir + "/state.json",
                       state::CheckpointWriter::Callbacks{
                           [this] { return snapshot(); }, [this] { return journal_.take_sync(); },
                           [this](bool again) { return parked_snapshot(again); }, [this] { journal_.mark_unsynced(); }},
                       options_.state_dir + "/parked.json");
  return {};
}

core::Result<void> Daemon::start_state() {
  load_state();
  return {};
}

// The root is the operator's (links in its own path are followed); everything below it
// is reached without following a link (DESIGN.md §6b).
core::Result<void> Daemon::start_root() {
  auto root = core::open_trusted_dir(options_.hermes_root);
  if (!root) return tl::unexpected(root.error());
  root_fd_ = std::move(*root);
  std::vector<std::string> dropped;
  workspace_roots_ = artifacts::WorkspaceRoots::create(options_.workspace_roots, &dropped);
  for (const auto& d : dropped) spdlog::info("workspace root left out: {}", d);
  spdlog::info("workspace roots: {}", core::join(workspace_roots_.roots()));
  return {};
}

// Every handle of the daemon's own, made through loop/'s factories: one libuv refusal is a
// start-up error that names the call, not a daemon that runs half-wired.
core::Result<void> Daemon::start_handles() {
  auto stop = [](uv_signal_t* s, int signum) {
    spdlog::info("signal={} shutting down", signum);
    uv_stop(s->loop);
  };
  auto on_hup = [](uv_signal_t* s, int) { static_cast<Daemon*>(s->data)->reload_rules(); };
  auto sigint = loop::make_signal(loop_, this, SIGINT, stop);
  if (!sigint) return tl::unexpected(sigint.error());
  sigint_ = std::move(*sigint);
  auto sigterm = loop::make_signal(loop_, this, SIGTERM, stop);
  if (!sigterm) return tl::unexpected(sigterm.error());
  sigterm_ = std::move(*sigterm);
  auto sighup = loop::make_signal(loop_, this, SIGHUP, on_hup);
  if (!sighup) return tl::unexpected(sighup.error());
  sighup_ = std::move(*sighup);
  for (auto* slot : {&reload_timer_, &checkpoint_timer_, &forget_timer_}) {
    auto t = loop::make_timer(loop_, this);
    if (!t) return tl::unexpected(t.error());
    *slot = std::move(*t);
  }
  auto retry_timer = loop::make_timer(loop_, this);
  if (!retry_timer) return tl::unexpected(retry_timer.error());
  outbox_.emplace(journal_, std::move(*retry_timer));
  auto more_timer = loop::make_timer(loop_, this);
  if (!more_timer) return tl::unexpected(more_timer.error());
  logs_.emplace(std::move(*more_timer), *db_, matcher_,
                tail::LogFollower::Callbacks{
                    [this](const tail::LogFollower::Log& log, std::vector<match::Hit>& hits) { on_hits(log, hits); },
                    [this](const std::string& key, const std::string& message) { refuse_once(key, message); },
                    [this] { ++refused_; },
                    [this](const std::string& board) {
                      Board* b = this->board(board);
                      return b && b->logs_fd ? b->logs_fd.get() : -1;
                    }});
  // Parked logs stay parked (a log the first scan finds unchanged is not reopened), unless
  // state.json says it was reopened since: its entry there is newer.
  for (const auto& f : saved_parked_) {
    if (saved_files_.count(f.path)) continue;
    if (f.board.empty())
      saved_files_[f.path] = saved_of(f);  // (no board to park it under: a startup position)
    else
      logs_->restore_parked(f.board, f.path, saved_of(f));
  }
  saved_parked_.clear();
  logs_->resume_from(std::move(saved_files_));
  // What is kept per task is swept once a minute (or at the idle time, when shorter).
  const auto sweep_ms = static_cast<std::uint64_t>(std::min<std::int64_t>(options_.forget_tasks_idle_s, 60)) * 1000;
  if (auto ok = loop::start_timer(
          forget_timer_, [](uv_timer_t* t) { static_cast<Daemon*>(t->data)->forget_idle(); }, sweep_ms, sweep_ms);
      !ok)
    return ok;
  // Checkpoint on a timer, never per line (STYLE B5); it only runs when work was done.
  return loop::start_timer(
      checkpoint_timer_,
      [](uv_timer_t* t) {
        auto* self = static_cast<Daemon*>(t->data);
        if (self->logs_->take_dirty() || self->state_dirty_ || self->checkpoints_->failed_last()) self->save_state();
      },
      1000, 1000);
}

core::Result<void> Daemon::start_watching() {
  auto watcher = watch::InotifyWatcher::create(loop_);
  if (!watcher) return tl::unexpected(watcher.error());
  watcher_ = std::move(*watcher);
  watcher_->on_overflow([this] { on_overflow(); });
  boards_.emplace(
      loop_, *watcher_, options_.hermes_root, root_fd_.get(), std::move(saved_cursors_),
      kanban::BoardSet::Callbacks{
          [this](Board& b, const kanban::KanbanEvent& e) { on_board_event(b, e); },
          [this](Board& b) { on_board_caught_up(b); },
          [this](Board& b, kanban::BoardReader& r) { return first_cursor(b, r); }, [this] { state_dirty_ = true; },
          [this](Board& b, const std::string& name, bool replaced) {
            logs_->on_change(b.slug, b.logs_dir, name, replaced);
          },
          [this](Board& b) {
            logs_->drop_board(b.slug);
            exits_->drop_board(b.slug);
          },
          [this](const std::string& key, const std::string& message) { refuse_once(key, message); },
          [this] { watch_rules(); }});
  watch_rules();
  auto reports = report::ReportQueue::create(loop_);
  if (!reports) return tl::unexpected(reports.error());
  reports_ = std::move(*reports);
  decider_->set_sinks(
      RunDecider::Sinks{&*outbox_, reports_.get(),
                        [this](const std::string& key, const std::string& message) { refuse_once(key, message); },
                        [this] { state_dirty_ = true; }});
  return {};
}

core::Result<void> Daemon::start_reading() {
  boards_->rescan();
  logs_->end_startup();
  read_ = true;  // from here on the state is whole: a stop checkpoints it
  return {};
}

core::Result<void> Daemon::start_publishing() {
  auto pub = publish::UnixSocketPublisher::create(loop_, options_.socket_path, journal_,
                                                  publish::PublisherOptions{options_.max_client_queue_bytes, 0660},
                                                  [this] { return hello(); });
  if (!pub) return tl::unexpected(pub.error());
  publisher_ = std::move(*pub);
  outbox_->set_publisher(publisher_.get());
  return {};
}

// Whatever the start got to, in reverse: the checkpoint (only of a state that was read
// whole), the counters, the socket, every handle, then the loop, drained.
void Daemon::teardown() {
  if (!loop_) return;
  if (reports_) reports_->shutdown();
  if (read_) save_state_now();  // (a threadpool write still in flight finishes before the loop closes)
  spdlog::info(
      "stopped decisions={} malformed_events={} stream_errors={} refused={} clients_cut_off={} client_write_errors={}",
      decider_ ? decider_->decisions() : 0, malformed_events_, logs_ ? logs_->stream_errors() : 0, refused_,
      publisher_ ? publisher_->cut_off() : 0, publisher_ ? publisher_->write_errors() : 0);
  std::string paths;
  if (decider_)
    for (const auto& [path, n] : decider_->decided_by()) paths += " " + path + "=" + std::to_string(n);
  spdlog::info("exits decided by{} (pid deaths seen={}, with a readable exit status={})",
               paths.empty() ? " none" : paths, exits_ ? exits_->pid_exits() : 0,
               exits_ ? exits_->pid_exits_with_status() : 0);
  if (outbox_) outbox_->set_publisher(nullptr);
  if (publisher_) publisher_->close();
  publisher_.reset();
  // Handles owned by members close through their UvHandle; then the loop is drained.
  sigint_.reset();
  sigterm_.reset();
  sighup_.reset();
  checkpoint_timer_.reset();
  reload_timer_.reset();
  forget_timer_.reset();
  if (logs_) logs_->stop();
  if (outbox_) {
    if (const std::size_t left = outbox_->flush(); left > 0)
      spdlog::critical("{} message(s) could not be journaled before the stop (the state disk is full)", left);
    outbox_->stop();
  }
  boards_.reset();  // (before the watcher its watches are in)
  watcher_.reset();
  if (exits_) exits_->stop();
  // Closing the loop also runs it until the last report write is done.
  if (const std::size_t open = loop::close_loop(loop_); open > 0)
    spdlog::debug("{} loop handle(s) were still open at the stop; closed", open);
  if (reports_) spdlog::info("state reports written={} failed={}", reports_->writes(), reports_->errors());
  loop_ = nullptr;
}

}  // namespace

int run_daemon(const DaemonOptions& options) {
  // A subscriber that disconnects mid-write must cost an EPIPE on its socket, not the
  // daemon: libuv leaves SIGPIPE at its default (terminate).
  ::signal(SIGPIPE, SIG_IGN);
  // One descriptor per followed log: raise the soft limit to the hard one so a host with
  // a thousand workers does not run out at the default 1024.
  struct rlimit nofile {};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  auto logger = spdlog::stderr_color_mt("medic");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %l %v");
  if (const char* lvl = std::getenv("MEDIC_LOG_LEVEL")) spdlog::set_level(spdlog::level::from_str(lvl));

  std::error_code ec;
  fs::create_directories(options.state_dir, ec);
  if (ec) {
    spdlog::critical("state dir {}: {}", options.state_dir, ec.message());
    return 2;
  }
  if (!fs::is_directory(options.hermes_root, ec)) {
    spdlog::critical("Hermes root {} is not a directory (set --hermes-root or HERMES_KANBAN_HOME)",
                     options.hermes_root);
    return 2;
  }
  // One daemon per state dir, held until the process exits.
  auto lock = state::StateDirLock::acquire(options.state_dir);
  if (!lock) {
    spdlog::critical("{}", lock.error().message);
    return 2;
  }
  LoadedRules loaded = load_daemon_rules(options.rules_dir);
  if (!loaded.db) {
    for (const auto& d : loaded.diagnostics) spdlog::critical("{}", rules::format(d));
    return 2;
  }
  auto matcher = match::Matcher::create(*loaded.db);
  if (!matcher) return 2;
  // The ids the journal holds, kept compactly (9 bytes each): a restart never decides a
  // run twice, and a journal of a million decisions costs megabytes, not hundreds.
  decide::DecidedSet decided;
  auto journal =
      publish::Journal::open(options.state_dir + "/journal", options.journal, options.state_dir + "/journal.ndjson",
                             [&decided](std::string_view id, std::string_view action) {
                               decided.insert(id, decide::DecidedRun{rules::parse_action(action), false});
                             });
  if (!journal) {
    spdlog::critical("{}", journal.error().message);
    return 2;
  }
  for (const auto& r : journal->recovered()) {
    spdlog::error("journal segment={} damaged ({}): {} bytes cut, kept in {}; medic goes on from the last good line",
                  r.segment, r.why, r.bytes, r.kept_at);
  }
  decided.seal();
  spdlog::info("journal last_seq={} decided_ids={} ({} KiB)", journal->last_seq(), decided.size(),
               decided.bytes() / 1024);
  Daemon daemon(options, std::move(loaded.db), std::move(*matcher), std::move(*journal), std::move(decided));
  return daemon.run();
}

}  // namespace medic::app
