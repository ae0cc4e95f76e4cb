#include "app/run_decider.h"

#include <spdlog/spdlog.h>

#include <memory>

#include "core/text.h"
#include "publish/decision_codec.h"

namespace medic::app {

RunDecider::RunDecider(uv_loop_t* loop, const DaemonOptions& options, const artifacts::WorkspaceRoots& roots,
                       decide::RunTracker& tracker, const core::Clock& clock)
    : loop_(loop), options_(options), roots_(roots), tracker_(tracker), clock_(clock) {}

void RunDecider::decide_run(const std::string& board, kanban::BoardReader* reader, const std::string& task,
                            decide::DecideRun d, const kanban::TaskRow* row) {
  const std::string key = board + "/" + task;
  std::int64_t run = d.run_id;
  if (run == 0 && row) run = row->current_run_id.value_or(row->last_run_id.value_or(0));
  if (run == 0) {
    // Never a decision named "/0": an exit of a task with no run on the board.
    spdlog::warn("task={} board={} exit ({}) of a task with no known run: not decided", task, board,
                 decide::to_string(d.exit.seen_by));
    return;
  }
  const std::string id = d.decision_id.empty() ? key + "/" + std::to_string(run) : d.decision_id;
  if (tracker_.decided(id)) {
    spdlog::debug("run={} already decided; {} exit ignored", id, decide::to_string(d.exit.seen_by));
    return;
  }
  if (checking_.count(id)) {
    spdlog::debug("run={} being decided (its acceptance check runs); {} exit ignored", id,
                  decide::to_string(d.exit.seen_by));
    return;
  }
  decide::RunFacts facts;
  facts.board = board;
  facts.task_id = task;
  facts.run_id = run;
  facts.decision_id = d.decision_id;
  facts.exit = d.exit;
  facts.evidence = std::move(d.evidence);
  facts.provider = d.provider;
  facts.blocked = d.worker_blocked;
  facts.blocked_reason = d.blocked_reason;
  facts.gave_up = d.gave_up;
  facts.previous_action = d.previous_action;
  facts.previous_known_reset = d.previous_known_reset;
  if (row) {
    if (facts.provider.empty()) facts.provider = row->provider_override;
    facts.task_max_retries = row->max_retries;
    facts.workspace = row->workspace_path;
    facts.assignee = row->assignee;
  }
  if (facts.blocked && reader) {
    // Children waiting on this task make its decision theirs too.
    if (auto c = reader->waiting_children(task)) facts.waiting_children = std::move(*c);
  }
  // Hermes's breaker: never publish a retry for a run after which Hermes gives up.
  if (!facts.gave_up && reader) {
    if (auto h = reader->failure_history(task, run)) {
      facts.breaker = decide::BreakerFacts{h->consecutive_failures, h->max_retries, h->protocol_violation_streak,
                                           h->run_closed, options_.hermes_failure_limit};
    }
  }
  // Acceptance of the task's artifacts, for the decisions that read them: the classes that
  // resume from saved evidence, a protocol violation, an unexplained crash, a block, and
  // Hermes giving up.
  std::string path = std::string(decide::to_string(d.exit.seen_by));
  if (d.exit.waited) path += "+wait";
  const auto cls = decide::explain(facts);
  if ((cls && decide::uses_artifacts(*cls)) || (!cls && facts.exit.rc != 78) || facts.gave_up || facts.blocked) {
    const std::int64_t started = d.run_started > 0 ? d.run_started : row ? row->last_run_started_at.value_or(0) : 0;
    check_then_publish(id, std::move(facts), row ? std::optional<kanban::TaskRow>(*row) : std::nullopt, started,
                       std::move(path));
    return;
  }
  if (publish_decision(facts)) ++decided_by_[path];
}

// The acceptance walk reads up to 100,000 directory entries and stats each: it runs on the
// threadpool, and the decision is published on the loop when it is done. Until then the
// decision's id is in checking_, so another exit path of the same run does not decide it
// again. (check_artifacts reads only what is fixed after start-up: the options and the
// workspace roots.)
void RunDecider::check_then_publish(const std::string& id, decide::RunFacts facts, std::optional<kanban::TaskRow> row,
                                    std::int64_t started, std::string path) {
  struct Work {
    uv_work_t req;
    RunDecider* self;
    std::string id;
    decide::RunFacts facts;
    std::optional<kanban::TaskRow> row;
    std::int64_t started;
    std::string path;  // the exit path counted in decided_by_; empty: none
    artifacts::CheckResult result;
    std::optional<ReportWhere> where;  // looked up with the walk, off the loop
  };
  auto* w = new Work{{}, this, id, std::move(facts), std::move(row), started, std::move(path), {}, {}};
  w->req.data = w;
  // On the loop: the check's result into the facts, then the decision (unless the run was
  // decided meanwhile, by a blocked-parent examination).
  static constexpr auto finish = [](Work& wk) {
    RunDecider& self = *wk.self;
    self.checking_.erase(wk.id);
    const artifacts::CheckResult& r = wk.result;
    wk.facts.artifacts = decide::ArtifactFacts{r.ran, r.evidence, r.outputs, r.state, r.checked, r.missing, r.refused};
    if (self.tracker_.decided(wk.id)) return;
    if (self.publish_decision(wk.facts, std::move(wk.where)) && !wk.path.empty()) ++self.decided_by_[wk.path];
  };
  if (!w->row || w->row->workspace_path.empty()) {
    // No workspace to walk (Hermes sets the path after the claim, some tasks never have
    // one): the check reads nothing, and the round trip through the threadpool would be
    // most of the exit's latency.
    std::unique_ptr<Work> wk(w);
    wk->result = check_artifacts(wk->facts.board, wk->row, wk->started);
    finish(*wk);
    return;
  }
  checking_.insert(id);
  const int rc = uv_queue_work(
      loop_, &w->req,
      [](uv_work_t* req) {
        auto* wk = static_cast<Work*>(req->data);
        wk->result = wk->self->check_artifacts(wk->facts.board, wk->row, wk->started);
        if (!wk->facts.workspace.empty()) wk->where = artifacts::report_location(wk->self->roots_, wk->facts.workspace);
      },
      [](uv_work_t* req, int) {
        std::unique_ptr<Work> wk(static_cast<Work*>(req->data));
        finish(*wk);
      });
  if (rc != 0) {
    // No threadpool: check here rather than not at all.
    spdlog::warn("decision={} acceptance checked on the loop: uv_queue_work: {}", id, uv_strerror(rc));
    std::unique_ptr<Work> wk(w);
    wk->result = check_artifacts(wk->facts.board, wk->row, wk->started);
    finish(*wk);
  }
}

// Where the decision's workspace report goes, checked before the decision is published so
// that a refused write is named in its `checked` list: the workspace must lie beneath an
// allowed root and be reached without a link, and its state/ and report files must not be
// links either (a worker controls all three). `known`: that lookup, when it was made on the
// threadpool with the acceptance walk. nullopt: no workspace report.
std::optional<report::Location> RunDecider::workspace_report(decide::Decision& d, std::optional<ReportWhere> known) {
  if (d.workspace.empty()) return std::nullopt;
  ReportWhere where = known ? std::move(*known) : artifacts::report_location(roots_, d.workspace);
  if (where) return *where;
  const std::string why = where.error().message;
  d.checked.push_back("refused: the state report in " + d.workspace + ": " + why);
  sinks_.refuse("report:" + d.id, "decision=" + d.id + " state report refused: workspace=" + d.workspace + ": " + why);
  return std::nullopt;
}

// The decision's row in the state reports: the task's workspace pair when it has one, and
// the board-wide pair in the state directory. Written off the loop thread.
void RunDecider::report_decision(const decide::Decision& d, const std::optional<report::Location>& workspace) {
  if (!sinks_.reports) return;
  report::Update u;
  std::string evidence;
  if (d.evidence) {
    evidence = d.evidence->path + ":" + std::to_string(d.evidence->line) + ": " +
               d.evidence->text.substr(0, std::min<std::size_t>(d.evidence->text.size(), 300));
  }
  u.decisions.push_back(report::DecisionRow{
      d.id, d.decided_at, d.board, d.task_id, d.failure_class ? std::string(rules::to_string(*d.failure_class)) : "",
      std::string(rules::to_string(d.action)),
      d.missing.empty() ? d.reason : d.reason + " Missing: " + core::join(d.missing) + ".", evidence, d.next_command});
  std::vector<report::ProviderRow> health;
  for (const auto& [provider, until] : engine_.unhealthy_until) {
    auto r = health_reasons_.find(provider);
    health.push_back(report::ProviderRow{provider, until, r == health_reasons_.end() ? "" : r->second});
  }
  u.health = std::move(health);
  std::vector<report::Location> where{
      report::Location{options_.state_dir, "", "state/" + d.board + "/PROJECT_STATE.md"}};
  if (workspace) where.push_back(*workspace);
  for (auto& loc : where) {
    sinks_.reports->add(loc, u);
    loc.file.replace(loc.file.size() - 3, 3, ".html");
    sinks_.reports->add(loc, u);
  }
}

bool RunDecider::publish_decision(const decide::RunFacts& facts, std::optional<ReportWhere> where) {
  const core::EpochSeconds now = clock_.now();
  decide::Outcome out = decide::decide(facts, options_.policy, engine_, now);
  if (!out.publish) {
    tracker_.note_decided(out.decision.id);
    spdlog::info("decision id={}: nothing new to decide ({} stands)", out.decision.id,
                 facts.previous_action ? rules::to_string(*facts.previous_action) : "the earlier decision");
    return false;
  }
  for (const auto& h : out.health) {
    sinks_.outbox->publish([h](std::uint64_t seq) { return publish::encode_health(h, seq); });
    health_reasons_[h.provider] = h.reason;
  }
  const std::optional<report::Location> workspace = workspace_report(out.decision, std::move(where));
  tracker_.note_decided(out.decision.id, out.decision.action, out.decision.known_reset);
  sinks_.outbox->publish([d = out.decision](std::uint64_t seq) { return publish::encode_decision(d, seq); });
  ++decisions_;
  if (sinks_.on_published) sinks_.on_published();
  report_decision(out.decision, workspace);
  spdlog::info("decision id={} class={} action={} reason=\"{}\"", out.decision.id,
               out.decision.failure_class ? rules::to_string(*out.decision.failure_class) : "none",
               rules::to_string(out.decision.action), out.decision.reason);
  return true;
}

artifacts::CheckResult RunDecider::check_artifacts(const std::string& board, const std::optional<kanban::TaskRow>& row,
                                                   std::int64_t run_started) const {
  static const artifacts::AcceptanceSpec defaults = artifacts::AcceptanceSpec::defaults();
  const artifacts::AcceptanceRule* rule =
      row ? artifacts::select(options_.acceptance, board, row->assignee, row->title) : nullptr;
  artifacts::CheckResult r =
      artifacts::check(roots_, row ? row->workspace_path : std::string(), rule ? rule->spec : defaults, run_started);
  if (rule) r.checked.insert(r.checked.begin(), "acceptance: " + rule->where);
  return r;
}

void RunDecider::check_blocked_family(const std::string& board, kanban::BoardReader& reader, const std::string& task) {
  if (auto row = reader.task(task); row && *row && (*row)->status == "blocked") {
    if (auto c = reader.waiting_children(task); c && !c->empty()) examine_blocked_parent(board, reader, task);
  }
  if (auto parents = reader.blocked_parents(task); parents) {
    for (const auto& p : *parents) examine_blocked_parent(board, reader, p);
  }
}

void RunDecider::examine_blocked_parent(const std::string& board, kanban::BoardReader& reader,
                                        const std::string& parent) {
  auto row = reader.task(parent);
  if (!row || !*row) return;
  decide::RunFacts facts;
  facts.board = board;
  facts.task_id = parent;
  facts.run_id = (*row)->current_run_id.value_or((*row)->last_run_id.value_or(0));
  // One examination per blocked spell of a run: the id names the run it follows.
  const std::string id = board + "/" + parent + "/" + std::to_string(facts.run_id) + "/blocked";
  if (tracker_.decided(id) || checking_.count(id)) return;
  facts.decision_id = id;
  facts.exit.seen_by = decide::ExitSource::Event;
  facts.exit.event_kind = "blocked";
  facts.exit.at = clock_.now();
  facts.blocked = true;
  facts.provider = (*row)->provider_override;
  facts.workspace = (*row)->workspace_path;
  facts.assignee = (*row)->assignee;
  if (auto c = reader.waiting_children(parent)) facts.waiting_children = std::move(*c);
  if (facts.waiting_children.empty()) return;
  if (auto run = tracker_.decided_set().find(board + "/" + parent + "/" + std::to_string(facts.run_id));
      run && run->action == rules::Action::Complete) {
    // Blocked by Hermes after medic said complete for that run (act waits for Hermes's word
    // before it completes): that decision stands for the children too.
    spdlog::info("decision id={}: nothing new to decide (complete stands)", id);
    return;
  }
  // State files must have changed since its last run started (a parent blocked before
  // any run has none, and passes only on files that exist and outputs that pass).
  const std::int64_t started = (*row)->last_run_started_at.value_or(0);
  check_then_publish(id, std::move(facts), **row, started, "");
}

}  // namespace medic::app
