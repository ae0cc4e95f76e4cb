#include "act/planner.h"

#include "core/text.h"

namespace medic::act {
namespace {

using rules::Action;

std::string clip(const std::string& s, std::size_t n) { return s.size() <= n ? s : s.substr(0, n - 3) + "..."; }

bool in(const std::string& s, std::initializer_list<const char*> set) {
  for (const char* x : set) {
    if (s == x) return true;
  }
  return false;
}

HermesCommand dispatch_command() { return HermesCommand{"dispatch", {}, {}}; }

}  // namespace

std::string block_kind(const decide::Decision& d) {
  if (!d.failure_class) return "needs_input";
  switch (*d.failure_class) {
    case rules::FailureClass::QuotaExhausted:
    case rules::FailureClass::AuthRegion:
      return "capability";
    case rules::FailureClass::ProtocolViolation:
    case rules::FailureClass::ContextLength:
    case rules::FailureClass::AuthMissing:
    case rules::FailureClass::AuthExpired:
      return "needs_input";
    default:
      return "transient";
  }
}

Plan plan(const decide::Decision& d, const TaskView& t, core::EpochSeconds now, const PlanOptions& o) {
  Plan p;
  const std::string& id = d.task_id;
  if (!t.exists) {
    p.notes.push_back("the task is not on the board");
    return p;
  }
  // Hermes has started a newer run: this decision is about a run it has moved past.
  const bool superseded = t.latest_run > d.run_id && t.latest_run_open;
  const std::string s = t.status;
  switch (d.action) {
    case Action::Complete: {
      if (in(s, {"done", "archived"})) {
        p.notes.push_back("already " + s);
        return p;
      }
      if (superseded) {
        // Hermes runs the task again already; that run may well complete it, and a reclaim
        // would kill it and reset Hermes's failure counter. Its own end gets its own decision.
        p.notes.push_back("Hermes is running it again (run " + std::to_string(t.latest_run) +
                          "); that run is left to finish");
        return p;
      }
      if (s == "running" && t.latest_run == d.run_id && t.latest_run_open && o.wait_for_hermes) {
        p.wait_for_hermes = true;
        p.notes.push_back("Hermes has not ended run " + std::to_string(d.run_id) +
                          " yet; the complete waits for its word, so the run keeps Hermes's own outcome");
        return p;
      }
      if (s == "scheduled") {
        p.commands.push_back(HermesCommand{"unblock", {}, {id}});
      } else if (!in(s, {"running", "ready", "blocked"})) {
        p.notes.push_back("Hermes cannot complete a task in " + s + "; left as it is");
        return p;
      }
      p.commands.push_back(HermesCommand{"complete", {{"summary", clip("medic: " + d.reason, 400)}}, {id}});
      if (o.dispatch) p.commands.push_back(dispatch_command());
      return p;
    }
    case Action::Block: {
      if (s == "blocked") {
        p.notes.push_back("already blocked (by Hermes, a person or its worker)");
        return p;
      }
      if (superseded) {
        p.notes.push_back("Hermes started run " + std::to_string(t.latest_run) + "; this block of run " +
                          std::to_string(d.run_id) + " is stale");
        return p;
      }
      if (!in(s, {"running", "ready"})) {
        p.notes.push_back("left as " + s + " (Hermes blocks only running or ready tasks)");
        return p;
      }
      if (d.breaker && d.breaker->trips && s == "running" && t.latest_run == d.run_id && t.latest_run_open &&
          o.wait_for_hermes) {
        // Hermes's breaker gives up on the task at this very exit: Hermes blocks it itself on
        // its tick. A block now would race that tick; wait for Hermes's word instead.
        p.wait_for_hermes = true;
        p.notes.push_back("Hermes's breaker trips at this exit (" + std::to_string(d.breaker->failures) + " of " +
                          std::to_string(d.breaker->limit) + " " + d.breaker->budget +
                          "): Hermes blocks the task itself; act waits for its word on run " +
                          std::to_string(d.run_id));
        return p;
      }
      p.commands.push_back(HermesCommand{"block", {{"kind", block_kind(d)}}, {id, clip(d.reason, 400)}});
      return p;
    }
    case Action::RetryAt:
    case Action::Retry:
    case Action::Resume: {
      if (superseded) {
        p.notes.push_back("Hermes is already running it again (run " + std::to_string(t.latest_run) + ")");
        return p;
      }
      const bool override_breaker = d.action == Action::RetryAt && d.overrides_breaker;
      if (s == "blocked" && !(t.gave_up && override_breaker)) {
        p.notes.push_back(t.gave_up ? "Hermes gave up on the task; it stays blocked (this retry does not override "
                                      "its breaker)"
                                    : "blocked by a person or its worker; left as it is");
        return p;
      }
      if (!in(s, {"running", "ready", "scheduled", "blocked"})) {
        p.notes.push_back("left as " + s);
        return p;
      }
      if (s == "blocked") p.notes.push_back("overrides Hermes's breaker: a rate limit with a named reset");
      if (!d.use_provider.empty()) {
        if (d.use_model.empty()) {
          p.notes.push_back("no model configured for the fallback " + d.use_provider +
                            " (fallback_providers: {provider: " + d.use_provider + ", model: M}); not switched");
        } else if (t.provider_override != d.use_provider || t.model_override != d.use_model) {
          p.commands.push_back(HermesCommand{"set-model", {{"provider", d.use_provider}}, {id, d.use_model}});
        }
      }
      if (d.action == Action::Resume && !d.missing.empty()) {
        p.commands.push_back(
            HermesCommand{"comment",
                          {},
                          {id, "medic: resume from the saved evidence; do not collect it again. Still missing: " +
                                   core::join(d.missing)}});
      }
      const core::EpochSeconds at = d.retry_at.value_or(now);
      if (d.action != Action::RetryAt) {
        // Hermes retries it on its own tick; a task act parked earlier is released on time.
        if (s == "scheduled") p.release_at = at;
        return p;
      }
      if (at > now) {
        if (s != "scheduled") {
          p.commands.push_back(
              HermesCommand{"schedule", {}, {id, "medic: retry at " + core::utc_time(at) + " UTC (" + d.id + ")"}});
        }
        p.release_at = at;
      } else if (in(s, {"scheduled", "blocked"})) {
        p.commands.push_back(HermesCommand{"unblock", {}, {id}});
        if (o.dispatch) p.commands.push_back(dispatch_command());
      }
      return p;
    }
    case Action::RepairAuth:
    case Action::RepairEnv:
    case Action::Ignore:
      p.notes.push_back("nothing to run through Hermes" +
                        (d.next_command.empty() ? std::string() : "; next: " + d.next_command));
      return p;
  }
  return p;
}

Plan plan_release(const std::string& task, const TaskView& t, bool overrides_breaker, const PlanOptions& o) {
  Plan p;
  if (!t.exists) {
    p.notes.push_back("the task is not on the board");
  } else if (t.status == "scheduled" || (t.status == "blocked" && overrides_breaker && t.gave_up)) {
    p.commands.push_back(HermesCommand{"unblock", {}, {task}});
    if (o.dispatch) p.commands.push_back(dispatch_command());
  } else {
    p.notes.push_back("already " + t.status + "; nothing to release");
  }
  return p;
}

Plan plan_after_preflight(const decide::Decision& d, const TaskView& t, bool repaired, const std::string& why) {
  Plan p;
  if (repaired) {
    p.notes.push_back(t.status == "blocked" ? "login repaired; the task is blocked: unblock it when ready"
                                            : "login repaired; Hermes retries the task on its next tick");
    return p;
  }
  if (!t.exists || !(t.status == "running" || t.status == "ready") || t.latest_run > d.run_id) {
    p.notes.push_back("login not repaired (" + why + "); the task is " + t.status + ", left as it is");
    return p;
  }
  p.commands.push_back(
      HermesCommand{"block",
                    {{"kind", "needs_input"}},
                    {d.task_id, clip("re-login to Codex for profile " + d.assignee + ": " + why, 400)}});
  return p;
}

}  // namespace medic::act
