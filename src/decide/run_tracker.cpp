#include "decide/run_tracker.h"

#include <sys/wait.h>

#include <algorithm>
#include <array>

namespace medic::decide {
namespace {

// "<board>/<task>/<run>" -> ("<board>/<task>", run); run 0 when the id has another shape.
std::pair<std::string, std::int64_t> split_id(const std::string& id) {
  const std::size_t slash = id.rfind('/');
  if (slash == std::string::npos) return {id, 0};
  const std::string tail = id.substr(slash + 1);
  if (tail.empty() || tail.find_first_not_of("0123456789") != std::string::npos) return {id, 0};
  return {id.substr(0, slash), std::stoll(tail)};
}

}  // namespace

bool is_run_ending_kind(std::string_view kind) {
  static constexpr std::array<std::string_view, 7> kinds = {
      "crashed", "protocol_violation", "rate_limited", "timed_out", "stale", "reclaimed", "spawn_failed"};
  for (auto k : kinds) {
    if (k == kind) return true;
  }
  return false;
}

bool RunTracker::has_failure(const Task& t) {
  for (const auto& e : t.evidence) {
    if (e.failure_class && *e.failure_class != rules::FailureClass::AuthAuxiliary) return true;
  }
  return false;
}

DecideRun RunTracker::take(const std::string& key, Task& t, ExitInfo exit) {
  DecideRun d;
  d.key = key;
  d.run_id = t.run_id;
  d.exit = std::move(exit);
  d.evidence = std::move(t.evidence);
  d.provider = t.provider;
  d.worker_blocked = t.worker_blocked;
  d.blocked_reason = t.blocked_reason;
  d.run_started = t.started_at;
  t.evidence.clear();
  t.worker_blocked = false;
  t.blocked_reason.clear();
  t.waiting = false;
  t.live = false;
  t.termination_requested = false;
  if (t.run_id != 0) t.last_decided_run = t.run_id;
  return d;
}

void RunTracker::end_tracking(Task& t, Effects& fx) {
  (void)t;
  fx.unwatch_pid = true;
  fx.cancel_wait = true;
}

void RunTracker::start_run(const std::string& key, Task& t, std::int64_t run, core::EpochSeconds at, Effects& fx) {
  // A run that was still waiting for Hermes's word when the next one started: Hermes has
  // moved on (its event, if any, was earlier on the board), so decide it with what is known.
  if (t.waiting && t.run_id != 0 && !decided(run_id_of(key, t.run_id))) {
    ExitInfo exit = t.pending_exit;
    exit.waited = true;
    fx.decide.push_back(take(key, t, exit));
    fx.cancel_wait = true;
  }
  if (t.finished) t.evidence.clear();  // bytes after a kanban_complete belong to no failure
  t.run_id = run;
  t.started_at = at;
  t.live = true;
  t.finished = false;
  t.worker_blocked = false;
  t.blocked_reason.clear();
  t.termination_requested = false;
  t.waiting = false;
}

Effects RunTracker::on_event(const std::string& key, const RunEvent& e, core::EpochSeconds now) {
  Effects fx;
  Task& t = task(key, now);
  if (e.kind == "claimed" || e.kind == "spawned") {
    if (!e.run_id) return fx;
    const std::int64_t run = *e.run_id;
    // A worker that fails at once can exit before its spawned event is read: an event
    // about a run already decided must not make that run current again.
    if (decided(run_id_of(key, run))) return fx;
    if (run != t.run_id) start_run(key, t, run, e.at, fx);
    fx.reread_row = true;  // Hermes sets workspace_path after the claim (kanban_db.py:8549)
    if (e.kind == "spawned" && e.pid && !t.finished) {
      fx.watch_pid = PidWatch{run, *e.pid, e.started_at.value_or(e.at)};
    }
    return fx;
  }
  if (e.kind == "completed" || e.kind == "review_requested") {
    const std::int64_t run = e.run_id.value_or(t.run_id);
    if (run == 0 || run != t.run_id || decided(run_id_of(key, run))) return fx;
    // The worker finished on purpose: no decision, and a later exit signal is no failure.
    t.finished = true;
    t.live = false;
    t.waiting = false;
    t.worker_blocked = false;
    t.evidence.clear();
    end_tracking(t, fx);
    fx.finished_run = run;
    return fx;
  }
  if (e.kind == "blocked") {
    if (e.run_id && *e.run_id == t.run_id && t.run_id != 0 && !t.finished && !decided(run_id_of(key, t.run_id))) {
      // The worker blocked its own task: its exit decides, with its artifacts.
      t.worker_blocked = true;
      t.blocked_reason = e.reason;
      fx.reread_row = true;
    } else {
      fx.task_blocked = true;  // a person or Hermes: children may be waiting on it
    }
    return fx;
  }
  if (e.kind == "reclaim_deferred") {
    // Newer Hermes: it asked the worker to stop and will kill it; that death is on purpose.
    if (e.run_id.value_or(t.run_id) == t.run_id) t.termination_requested = true;
    return fx;
  }
  if (e.kind == "reclaimed" && e.reason.rfind("medic:", 0) == 0) {
    // `medic act` reclaimed this run on purpose (its reason names the decision): no
    // decision for it, or act would react to its own command.
    const std::int64_t run = e.run_id.value_or(t.run_id);
    if (run == t.run_id && run != 0 && !decided(run_id_of(key, run))) {
      t.finished = true;
      t.live = false;
      t.waiting = false;
      t.evidence.clear();
      end_tracking(t, fx);
      fx.finished_run = run;
    }
    return fx;
  }
  if (is_run_ending_kind(e.kind)) {
    const std::int64_t run = e.run_id.value_or(t.run_id);
    if (run == 0) return fx;
    const std::string id = run_id_of(key, run);
    const bool was_decided = decided(id);
    if (was_decided || (run == t.run_id && t.finished)) {
      if (was_decided) fx.hermes_ended = Effects::HermesEnded{id, run, e.kind};
      if (run == t.run_id) end_tracking(t, fx);
      return fx;
    }
    if (run > t.run_id) start_run(key, t, run, e.at, fx);  // its claim was before medic's cursor
    ExitInfo exit;
    exit.seen_by = ExitSource::Event;
    exit.event_kind = e.kind;
    exit.at = e.at;
    if (e.exit_code)
      exit.rc = *e.exit_code;
    else if (e.kind == "rate_limited")
      exit.rc = 75;
    else if (e.kind == "protocol_violation")
      exit.rc = 0;
    if (run == t.run_id) {
      // A run that ended while medic was down: its bytes ended in a history trailer.
      if (t.evidence.empty() && !t.history.empty()) t.evidence = std::move(t.history);
      t.history.clear();
      fx.decide.push_back(take(key, t, exit));
      end_tracking(t, fx);
    } else {
      // An older run medic never saw end (its bytes are gone into later runs' evidence).
      DecideRun d;
      d.key = key;
      d.run_id = run;
      d.exit = exit;
      d.provider = t.provider;
      fx.decide.push_back(std::move(d));
    }
    return fx;
  }
  if (e.kind == "gave_up") {
    // Hermes's breaker tripped: a change to the task (run_id NULL, kanban_db.py:7911).
    const std::int64_t run = e.run_id.value_or(t.run_id != 0 ? t.run_id : t.last_decided_run);
    if (run == 0) return fx;
    const std::string id = run_id_of(key, run) + "/gave_up";
    if (decided(id)) return fx;
    ExitInfo exit;
    exit.seen_by = ExitSource::Event;
    exit.event_kind = "gave_up";
    exit.at = e.at;
    DecideRun d;
    if (run == t.run_id && !t.finished && !decided(run_id_of(key, run))) {
      // The run itself was never decided (its own event came before medic's cursor).
      d = take(key, t, exit);
      end_tracking(t, fx);
    } else {
      d.key = key;
      d.run_id = run;
      d.exit = exit;
      d.provider = t.provider;
      d.decision_id = id;
      if (auto p = decided_.find(run_id_of(key, run)); p && p->action) {
        d.previous_action = p->action;
        d.previous_known_reset = p->known_reset;
      }
    }
    d.gave_up = true;
    fx.decide.push_back(std::move(d));
    fx.task_blocked = true;
    return fx;
  }
  return fx;
}

void RunTracker::on_hit(const std::string& key, Evidence e) {
  Task& t = tasks_[key];
  if (!e.failure_class) {
    if (const auto* p = match::find_field(e.fields, "provider")) {
      if (const auto* s = std::get_if<std::string>(p)) t.provider = *s;
    }
    return;
  }
  // A line's label is its strongest hit (as in `medic scan`): a weaker hit on the same
  // line, such as the "User not found" inside an auxiliary call's 401, is not evidence.
  if (!t.evidence.empty() && t.evidence.back().line == e.line && t.evidence.back().path == e.path) {
    if (e.priority <= t.evidence.back().priority) return;
    t.evidence.pop_back();
  }
  constexpr std::size_t kMaxEvidencePerRun = 64;
  if (t.evidence.size() >= kMaxEvidencePerRun) return;
  t.evidence.push_back(std::move(e));
}

Effects RunTracker::on_trailer(const std::string& key, int rc, core::EpochSeconds now) {
  Effects fx;
  Task& t = task(key, now);
  // Newer Hermes writes the trailer after kanban_complete too: an exit, not a failure.
  if (t.finished) return fx;
  ExitInfo exit;
  exit.seen_by = ExitSource::Trailer;
  exit.rc = rc;
  exit.at = now;
  DecideRun d = take(key, t, exit);
  // The current run was decided already: this trailer ends a later run whose claim the
  // board has not shown yet (the caller names it from the task row; never "/0").
  if (d.run_id != 0 && decided(run_id_of(key, d.run_id))) d.run_id = 0;
  fx.decide.push_back(std::move(d));
  end_tracking(t, fx);
  return fx;
}

void RunTracker::on_history_trailer(const std::string& key) {
  Task& t = tasks_[key];
  t.history = std::move(t.evidence);
  t.evidence.clear();
}

Effects RunTracker::on_pid_exit(const std::string& key, std::int64_t run_id, std::optional<int> wait_status,
                                core::EpochSeconds now) {
  Effects fx;
  fx.unwatch_pid = true;
  Task& t = task(key, now);
  if (run_id != t.run_id || t.finished || decided(run_id_of(key, run_id))) return fx;
  ExitInfo exit;
  exit.seen_by = ExitSource::Pid;
  exit.at = now;
  bool clean_status = false;
  if (wait_status) {
    if (WIFEXITED(*wait_status)) {
      exit.rc = WEXITSTATUS(*wait_status);
      clean_status = true;
    } else if (WIFSIGNALED(*wait_status)) {
      exit.signal = WTERMSIG(*wait_status);
    }
  }
  // An exit code read from the zombie decides now. A worker killed by a signal was killed
  // by someone (Hermes kills on timeout and reclaim and says why on its tick), and one
  // already reaped left nothing to read: unless the log shows a failure, wait for Hermes.
  // A worker that blocked its own task has said how its run ended: Hermes writes no
  // run-ending event for it (the task is no longer running), so nothing is worth waiting for.
  if ((clean_status && !t.termination_requested) || has_failure(t) || t.worker_blocked) {
    fx.decide.push_back(take(key, t, exit));
    fx.cancel_wait = true;
    return fx;
  }
  t.waiting = true;
  t.pending_exit = exit;
  fx.wait_until = now + options_.exit_event_wait_s;
  return fx;
}

Effects RunTracker::on_wait_expired(const std::string& key, core::EpochSeconds now) {
  Effects fx;
  auto it = tasks_.find(key);
  if (it == tasks_.end() || !it->second.waiting) return fx;
  Task& t = it->second;
  t.touched = now;
  if (t.run_id != 0 && decided(run_id_of(key, t.run_id))) {
    t.waiting = false;
    return fx;
  }
  ExitInfo exit = t.pending_exit;
  exit.waited = true;
  fx.decide.push_back(take(key, t, exit));
  return fx;
}

std::vector<std::string> RunTracker::forget_idle(core::EpochSeconds now) {
  std::vector<std::string> gone;
  std::vector<std::pair<core::EpochSeconds, std::map<std::string, Task>::iterator>> resting;
  for (auto it = tasks_.begin(); it != tasks_.end();) {
    // A task known only from its log (a hit has no clock) or from the checkpoint: its
    // idle time starts at the first sweep that sees it.
    if (it->second.touched == 0) it->second.touched = now;
    if (!at_rest(it->second)) {
      ++it;
    } else if (now - it->second.touched >= options_.forget_idle_s) {
      gone.push_back(it->first);
      it = tasks_.erase(it);
    } else {
      resting.emplace_back(it->second.touched, it);
      ++it;
    }
  }
  if (resting.size() > options_.max_at_rest) {
    const std::size_t over = resting.size() - options_.max_at_rest;
    std::partial_sort(resting.begin(), resting.begin() + static_cast<std::ptrdiff_t>(over), resting.end(),
                      [](const auto& a, const auto& b) { return a.first < b.first; });
    for (std::size_t i = 0; i < over && now - resting[i].first >= options_.forget_min_idle_s; ++i) {
      gone.push_back(resting[i].second->first);
      tasks_.erase(resting[i].second);
    }
  }
  return gone;
}

void RunTracker::note_decided(const std::string& id, std::optional<rules::Action> action, bool known_reset) {
  const auto [key, run] = split_id(id);
  // A task-level id records no action (a later note without one keeps what is there).
  decided_.insert(id, DecidedRun{run != 0 ? action : std::nullopt, known_reset});
  if (run == 0) return;
  auto it = tasks_.find(key);
  if (it != tasks_.end() && it->second.last_decided_run < run) it->second.last_decided_run = run;
}

std::map<std::string, RunTracker::Saved> RunTracker::save() const {
  std::map<std::string, Saved> out;
  for (const auto& [key, t] : tasks_) {
    if (t.run_id == 0 && t.evidence.empty() && t.provider.empty()) continue;
    out[key] = Saved{t.run_id, t.started_at, t.provider, t.evidence, t.live || t.waiting, t.finished};
  }
  return out;
}

void RunTracker::restore(const std::string& key, Saved s) {
  Task& t = tasks_[key];
  t.run_id = s.run_id;
  t.started_at = s.started_at;
  t.provider = std::move(s.provider);
  t.evidence = std::move(s.evidence);
  // A run that had ended (finished by the worker, or decided) stays ended: only a run
  // still going when saved is live again.
  t.finished = s.finished;
  t.live = s.live && !s.finished && t.run_id != 0 && !decided(run_id_of(key, t.run_id));
}

std::int64_t RunTracker::current_run(const std::string& key) const {
  auto it = tasks_.find(key);
  return it == tasks_.end() ? 0 : it->second.run_id;
}

}  // namespace medic::decide
