#include "decide/engine.h"

#include <algorithm>
#include <cmath>

#include "core/hash.h"
#include "core/text.h"
#include "decide/breaker.h"

namespace medic::decide {
namespace {

using rules::Action;
using rules::FailureClass;

std::int64_t field_int(const Evidence* e, std::string_view name) {
  if (!e) return 0;
  if (const auto* v = match::find_field(e->fields, name)) {
    if (const auto* i = std::get_if<std::int64_t>(v)) return *i;
    if (const auto* d = std::get_if<double>(v)) return static_cast<std::int64_t>(std::ceil(*d));
  }
  return 0;
}

std::string field_text(const Evidence* e, std::string_view name) {
  if (!e) return {};
  if (const auto* v = match::find_field(e->fields, name)) {
    if (const auto* s = std::get_if<std::string>(v)) return *s;
  }
  return {};
}

// Deterministic jitter in [-1, 1] from the decision id, so a retry storm spreads out but
// the same failure always gets the same delay (tests and replays agree).
double unit_jitter(const std::string& id) {
  const std::uint64_t h = core::fnv1a(id);
  return static_cast<double>(h % 20001) / 10000.0 - 1.0;
}

double backoff_delay(const rules::Backoff& b, int attempt, const std::string& id) {
  double d = b.base_s * std::pow(b.factor, std::max(0, attempt - 1));
  d = std::min(d, b.cap_s);
  d *= 1.0 + b.jitter * unit_jitter(id);
  return std::max(0.0, std::round(d));
}

std::string board_flag(const std::string& board) {
  return board.empty() || board == "default" ? std::string() : " --board " + board;
}

bool healthy(const EngineState& s, const std::string& provider, core::EpochSeconds now) {
  auto it = s.unhealthy_until.find(provider);
  return it == s.unhealthy_until.end() || it->second <= now;
}

// First healthy provider of `provider`'s fallback chain (empty provider: none).
rules::Fallback healthy_fallback(const rules::Policy& p, const EngineState& s, const std::string& provider,
                                 core::EpochSeconds now) {
  auto it = p.fallback_providers.find(provider);
  if (it == p.fallback_providers.end()) return {};
  for (const rules::Fallback& f : it->second) {
    if (f.provider != provider && healthy(s, f.provider, now)) return f;
  }
  return {};
}

// Names the fallback in the decision: the provider, and the model to run there.
void use(Decision& d, const rules::Fallback& f) {
  d.use_provider = f.provider;
  d.use_model = f.model;
}

std::string set_model_command(const std::string& bf, const std::string& task, const Decision& d) {
  return "hermes kanban" + bf + " set-model " + task + " " + (d.use_model.empty() ? "<model>" : d.use_model) +
         " --provider " + d.use_provider;
}

// Counts this attempt against the class's budget in its window; returns the attempt
// number (1-based), after forgetting attempts older than the window.
int count_attempt(EngineState& s, const std::string& key, core::EpochSeconds now, double window_s) {
  auto& times = s.attempts[key];
  std::erase_if(times, [&](core::EpochSeconds t) { return static_cast<double>(now - t) > window_s; });
  times.push_back(now);
  return static_cast<int>(times.size());
}

std::string describe_exit(const ExitInfo& e) {
  std::string s = e.signal ? "the worker was killed by signal " + std::to_string(*e.signal) : "the worker exited";
  if (e.rc) s += " with rc=" + std::to_string(*e.rc);
  if (e.seen_by == ExitSource::Event && !e.event_kind.empty()) s += " (Hermes event " + e.event_kind + ")";
  return s;
}

// The class Hermes's own exit classification implies when the log shows nothing.
std::optional<FailureClass> class_from_exit(const ExitInfo& e) {
  if (e.event_kind == "rate_limited" || e.rc == 75) return FailureClass::RateLimit;
  if (e.event_kind == "timed_out" || e.event_kind == "stale") return FailureClass::Timeout;
  if (e.event_kind == "protocol_violation" || (e.rc == 0 && !e.signal)) return FailureClass::ProtocolViolation;
  return std::nullopt;
}

// Hermes gave up on the task after a run medic had decided: a new decision only when the
// earlier one would now fight Hermes or the work is in fact done.
void decide_gave_up(const RunFacts& facts, Decision& d, const std::string& bf, bool& publish) {
  const ArtifactFacts* a = facts.artifacts ? &*facts.artifacts : nullptr;
  const auto prev = facts.previous_action;
  if (prev == Action::Complete) {
    publish = false;  // medic said complete for that run: it stands, whatever Hermes did since
    return;
  }
  if (a && a->passed()) {
    d.action = Action::Complete;
    d.checked = a->checked;
    d.reason = "Hermes gave up on the task after repeated failures, but every acceptance check passed (" +
               std::to_string(a->checked.size()) + " checked): complete it.";
    d.next_command = "hermes kanban" + bf + " complete " + facts.task_id +
                     " --summary \"completed by medic: artifacts pass acceptance\"";
    return;
  }
  if (prev == Action::RetryAt) {
    // A retry_at that survived the breaker at its decision is a rate limit at a named reset
    // that says it overrides Hermes (decide/breaker.h); it stands.
    publish = false;
    return;
  }
  if (prev == Action::Block || prev == Action::Ignore) {
    publish = false;  // nothing medic said asks Hermes to run it again
    return;
  }
  d.action = Action::Block;
  if (a) {
    d.checked = a->checked;
    d.missing = a->missing;
  }
  d.reason = std::string("Hermes gave up on the task (its failure breaker tripped)") +
             (prev ? ", so medic's earlier " + std::string(rules::to_string(*prev)) + " for run " +
                         std::to_string(facts.run_id) + " is void"
                   : std::string()) +
             ": the task stays blocked until a person unblocks it" +
             (a && !a->missing.empty() ? " (missing: " + core::join(a->missing) + ")" : std::string()) + ".";
  d.next_command = "hermes kanban" + bf + " unblock " + facts.task_id;
}

void decide_blocked(const RunFacts& facts, Decision& d, const std::string& bf) {
  std::string who = facts.waiting_children.empty()
                        ? "the worker blocked the task itself"
                        : "the task is blocked and " + std::to_string(facts.waiting_children.size()) +
                              " task(s) wait on it (" + core::join(facts.waiting_children) + ")";
  if (!facts.blocked_reason.empty()) who += " (\"" + facts.blocked_reason + "\")";
  const ArtifactFacts* a = facts.artifacts ? &*facts.artifacts : nullptr;
  if (a) {
    d.checked = a->checked;
    d.missing = a->missing;
  }
  if (a && a->passed()) {
    d.action = Action::Complete;
    d.reason =
        who + ", but every acceptance check passed (" + std::to_string(a->checked.size()) + " checked): complete it.";
    d.next_command = "hermes kanban" + bf + " complete " + facts.task_id +
                     " --summary \"completed by medic: artifacts pass acceptance\"";
    return;
  }
  std::string why = !a || !a->ran ? std::string("its artifacts could not be checked (no readable workspace)")
                                  : "its artifacts do not pass acceptance (missing: " + core::join(a->missing) +
                                        (a->refused.empty() ? "" : "; refused: " + core::join(a->refused)) + ")";
  if (facts.waiting_children.empty()) {
    // The worker's block stands; medic has nothing to add but the record.
    d.action = Action::Ignore;
    d.reason = who + "; " + why + ", so the block stands.";
    return;
  }
  d.action = Action::Block;
  d.reason = who + "; " + why + ": provide them, then unblock it.";
  d.next_command = "hermes kanban" + bf + " unblock " + facts.task_id;
}

}  // namespace

std::string_view to_string(ExitSource s) {
  switch (s) {
    case ExitSource::Trailer:
      return "trailer";
    case ExitSource::Pid:
      return "pid";
    case ExitSource::Event:
      return "event";
  }
  return "unknown";
}

std::optional<rules::FailureClass> explain(const RunFacts& facts) {
  if (const Evidence* ev = strongest(facts.evidence)) return ev->failure_class;
  return class_from_exit(facts.exit);
}

bool uses_artifacts(rules::FailureClass c) {
  return c == FailureClass::ProtocolViolation || c == FailureClass::Timeout || c == FailureClass::Connection ||
         c == FailureClass::Overloaded;
}

const Evidence* strongest(const std::vector<Evidence>& evidence) {
  const Evidence* best = nullptr;
  const Evidence* auxiliary = nullptr;
  for (const Evidence& e : evidence) {
    if (!e.failure_class) continue;
    if (*e.failure_class == FailureClass::AuthAuxiliary) {
      if (!auxiliary || e.priority > auxiliary->priority) auxiliary = &e;
      continue;
    }
    if (!best || e.priority > best->priority) best = &e;
  }
  return best ? best : auxiliary;
}

namespace {

Outcome decide_class(const RunFacts& facts, const rules::Policy& policy, EngineState& state, core::EpochSeconds now);

// Hermes's breaker at this exit (decide/breaker.h): a retry it would not allow becomes a
// block, unless it is a rate limit at a reset the provider named, which overrides it and
// says so.
void apply_breaker(const RunFacts& facts, Decision& d) {
  if (!facts.breaker || facts.gave_up) return;
  const BreakerOutlook o = predict_breaker(facts.exit, *facts.breaker);
  if (!o.counted) return;
  d.breaker = o;
  if (!o.trips) return;
  const std::string note = "Hermes's breaker trips at this exit (" + std::to_string(o.failures) + " " + o.budget +
                           ", limit " + std::to_string(o.limit) + ")";
  const std::string bf = board_flag(facts.board);
  switch (d.action) {
    case Action::RetryAt:
      if (d.known_reset && d.use_provider.empty()) {
        d.overrides_breaker = true;
        d.reason += " " + note + "; this retry overrides it: a rate limit with a named reset is not the task's fault.";
        return;
      }
      [[fallthrough]];
    case Action::Retry:
    case Action::Resume: {
      const Action was = d.action;
      d.action = Action::Block;
      d.retry_at.reset();
      d.backoff_s.reset();
      d.use_provider.clear();
      d.use_model.clear();
      d.reason += " But " + note + ", so it stays blocked for a person instead of a " +
                  std::string(rules::to_string(was)) + ".";
      d.next_command = "hermes kanban" + bf + " unblock " + facts.task_id;
      return;
    }
    case Action::RepairAuth:
    case Action::RepairEnv:
      d.reason +=
          " " + note + ": after the repair, unblock it (hermes kanban" + bf + " unblock " + facts.task_id + ").";
      return;
    default:
      return;
  }
}

}  // namespace

std::size_t forget_expired_attempts(EngineState& state, const rules::Policy& policy, core::EpochSeconds now) {
  const double window = policy.attempt_window_s * std::max(1.0, policy.rate_limit_window_factor);
  return std::erase_if(state.attempts, [&](const auto& entry) {
    return std::all_of(entry.second.begin(), entry.second.end(),
                       [&](core::EpochSeconds t) { return static_cast<double>(now - t) > window; });
  });
}

Outcome decide(const RunFacts& facts, const rules::Policy& policy, EngineState& state, core::EpochSeconds now) {
  Outcome out = decide_class(facts, policy, state, now);
  apply_breaker(facts, out.decision);
  return out;
}

namespace {

Outcome decide_class(const RunFacts& facts, const rules::Policy& policy, EngineState& state, core::EpochSeconds now) {
  Outcome out;
  Decision& d = out.decision;
  d.id = !facts.decision_id.empty() ? facts.decision_id
                                    : facts.board + "/" + facts.task_id + "/" + std::to_string(facts.run_id);
  d.board = facts.board;
  d.task_id = facts.task_id;
  d.run_id = facts.run_id;
  d.workspace = facts.workspace;
  d.assignee = facts.assignee;
  d.exit = facts.exit;
  d.decided_at = now;

  // Log evidence outranks the exit code: rc=0 with a 429 in the log is a rate limit.
  const Evidence* ev = strongest(facts.evidence);
  if (ev) {
    d.evidence = *ev;
    d.failure_class = ev->failure_class;
  } else {
    d.failure_class = class_from_exit(facts.exit);
  }
  d.provider = facts.provider.empty() ? field_text(ev, "provider") : facts.provider;
  const std::string bf = board_flag(facts.board);
  std::string exit_text = describe_exit(facts.exit);
  if (facts.exit.waited) exit_text += " (Hermes wrote no run-ending event within the wait)";

  if (facts.gave_up) {
    d.failure_class = ev ? ev->failure_class : std::nullopt;
    decide_gave_up(facts, d, bf, out.publish);
    return out;
  }

  // A blocked task (its worker blocked it, or children wait on it): done if its artifacts
  // pass. A worker's own block with a failure in its log is decided by that failure.
  if (facts.blocked && (!ev || !facts.waiting_children.empty())) {
    if (!ev) d.failure_class.reset();  // a clean exit after a block is no protocol violation
    decide_blocked(facts, d, bf);
    return out;
  }

  // An auxiliary call's 401 explains nothing about the task when the worker exited
  // cleanly after it; with no other failure, the exit itself decides.
  if (d.failure_class == FailureClass::AuthAuxiliary && facts.exit.rc && *facts.exit.rc != 0) {
    d.failure_class = class_from_exit(facts.exit);
  }

  if (!d.failure_class) {
    // Non-zero exit, nothing recognisable in the log.
    const rules::ClassPolicy& cp = policy.unexplained;
    if (facts.exit.rc == 78) {
      d.action = Action::Block;
      d.reason = exit_text +
                 " (Hermes's terminal provider error) and its log names no cause: "
                 "fix the profile's credential or model, then unblock.";
      d.next_command = "hermes kanban" + bf + " unblock " + facts.task_id;
      return out;
    }
    // A crash inspects the artifacts first (the seed): the work may be done or resumable.
    if (const ArtifactFacts* a = facts.artifacts ? &*facts.artifacts : nullptr; a && a->passed()) {
      d.action = Action::Complete;
      d.checked = a->checked;
      d.reason = exit_text + " with no failure signature in its log, but every acceptance check passed (" +
                 std::to_string(a->checked.size()) + " checked): complete it.";
      d.next_command = "hermes kanban" + bf + " complete " + facts.task_id +
                       " --summary \"completed by medic: artifacts pass acceptance\"";
      return out;
    }
    d.max_attempts = facts.task_max_retries.value_or(cp.max_attempts);
    d.attempt = count_attempt(state, facts.board + "/" + facts.task_id + "/unexplained", now, policy.attempt_window_s);
    if (d.attempt > d.max_attempts) {
      d.action = Action::Block;
      d.reason = exit_text + " with no failure signature in its log, " + std::to_string(d.attempt) +
                 " times within the retry window; blocking for a human.";
      d.next_command = "hermes kanban" + bf + " log " + facts.task_id;
      return out;
    }
    d.action = Action::Retry;
    d.backoff_s = backoff_delay(cp.backoff, d.attempt, d.id);
    d.retry_at = now + static_cast<core::EpochSeconds>(*d.backoff_s);
    d.reason = exit_text + " with no failure signature in its log; retrying with backoff.";
    if (const ArtifactFacts* a = facts.artifacts ? &*facts.artifacts : nullptr; a && a->ran && a->evidence) {
      d.action = Action::Resume;
      d.missing = a->missing;
      d.checked = a->checked;
      d.reason = exit_text +
                 " with no failure signature in its log; the raw evidence is saved: resume from it after "
                 "a " +
                 std::to_string(static_cast<long long>(*d.backoff_s)) + " s backoff.";
    }
    return out;
  }

  // Hermes gave up on the task (its failure breaker tripped), yet the work is on disk and
  // passes acceptance: the task is done, whatever the failures on the way were.
  if (facts.exit.event_kind == "gave_up" && facts.artifacts && facts.artifacts->passed()) {
    d.action = Action::Complete;
    d.checked = facts.artifacts->checked;
    d.reason = "Hermes gave up on the task after repeated failures, but every acceptance check passed (" +
               std::to_string(facts.artifacts->checked.size()) + " checked): complete it.";
    d.next_command = "hermes kanban" + bf + " complete " + facts.task_id +
                     " --summary \"completed by medic: artifacts pass acceptance\"";
    return out;
  }

  const FailureClass cls = *d.failure_class;
  const rules::ClassPolicy& cp = policy.for_class(cls);
  const double window = cls == FailureClass::RateLimit ? policy.attempt_window_s * policy.rate_limit_window_factor
                                                       : policy.attempt_window_s;
  d.max_attempts = facts.task_max_retries.value_or(cp.max_attempts);
  d.attempt =
      count_attempt(state, facts.board + "/" + facts.task_id + "/" + std::string(rules::to_string(cls)), now, window);
  const std::string what = ev ? "its log shows " + std::string(rules::to_string(cls)) + " (rule " + ev->rule + ")"
                              : std::string(rules::to_string(cls)) + " by its exit";
  d.action = cp.action;

  switch (cp.action) {
    case Action::RetryAt: {
      // Rate limits: the provider is unhealthy until its reset; retry then, or now on a
      // healthy fallback provider.
      // The class comes from the strongest hit; the reset time and wait from any hit of
      // that class in the run (Hermes prints "RateLimitError [HTTP 429]" before the
      // line that carries resets_at).
      core::EpochSeconds resets_at = 0;
      std::int64_t retry_after = 0;
      for (const Evidence& e : facts.evidence) {
        if (e.failure_class != cls) continue;
        resets_at = std::max<core::EpochSeconds>(resets_at, field_int(&e, "resets_at"));
        retry_after = std::max(retry_after, field_int(&e, "retry_after_s"));
      }
      core::EpochSeconds until = resets_at;
      std::string when = "its reset time";
      d.known_reset = resets_at > now || (resets_at <= 0 && retry_after > 0);
      if (resets_at > 0 && resets_at <= now) {
        // The window named in the log has already reset: nothing to wait for.
        until = now;
        when = "once (its reset time " + std::to_string(resets_at) + " has passed)";
      } else if (until <= now) {
        const std::int64_t after = retry_after;
        if (after > 0) {
          until = now + after;
          when = "the " + std::to_string(after) + " s it asked for";
        } else {
          until = now + static_cast<core::EpochSeconds>(policy.rate_limit_default_delay_s);
          when = "the default " + std::to_string(static_cast<long long>(policy.rate_limit_default_delay_s)) +
                 " s (no reset time in the log)";
        }
      }
      if (!d.provider.empty() && until > now) {
        auto& u = state.unhealthy_until[d.provider];
        u = std::max(u, until);
        out.health.push_back(ProviderHealth{d.provider, u, "rule " + (ev ? ev->rule : std::string("exit 75"))});
      }
      if (d.attempt > d.max_attempts) {
        d.action = Action::Block;
        d.reason = exit_text + "; " + what + " again (attempt " + std::to_string(d.attempt) + ", max " +
                   std::to_string(d.max_attempts) + " within the window); blocking instead of retrying again.";
        d.next_command = "hermes kanban" + bf + " unblock " + facts.task_id;
        break;
      }
      use(d, healthy_fallback(policy, state, d.provider, now));
      if (!d.use_provider.empty()) {
        d.retry_at = now;
        d.reason = exit_text + "; " + what + ": " + d.provider + " is unhealthy until " + std::to_string(until) +
                   ", so retry now on the fallback " + d.use_provider + ".";
        d.next_command = set_model_command(bf, facts.task_id, d);
      } else {
        d.retry_at = until;
        d.reason = exit_text + "; " + what + ": retry at " + when + " (" + std::to_string(until) + ")" +
                   (d.provider.empty() ? "" : " when " + d.provider + " is healthy again") + ".";
        d.next_command = "hermes kanban" + bf + " schedule " + facts.task_id;
      }
      break;
    }
    case Action::Retry:
    case Action::Resume: {
      if (d.attempt > d.max_attempts) {
        d.action = Action::Block;
        d.reason = exit_text + "; " + what + ", " + std::to_string(d.attempt) + " times within the retry window (max " +
                   std::to_string(d.max_attempts) + "); blocking for a human.";
        d.next_command = "hermes kanban" + bf + " log " + facts.task_id;
        break;
      }
      d.backoff_s = backoff_delay(cp.backoff, d.attempt, d.id);
      d.retry_at = now + static_cast<core::EpochSeconds>(*d.backoff_s);
      std::string where;
      // A task on a provider that is still unhealthy moves to a fallback, else waits.
      if (!d.provider.empty() && !healthy(state, d.provider, now)) {
        use(d, healthy_fallback(policy, state, d.provider, now));
        if (!d.use_provider.empty()) {
          where = " on " + d.use_provider + " (" + d.provider + " is unhealthy)";
        } else if (state.unhealthy_until[d.provider] > *d.retry_at) {
          d.retry_at = state.unhealthy_until[d.provider];
          where = ", waiting until " + std::to_string(*d.retry_at) + " when " + d.provider +
                  " is healthy again (no fallback provider configured)";
        }
      }
      std::string verb = "retry ";
      if (facts.artifacts && facts.artifacts->ran && facts.artifacts->evidence && !facts.artifacts->passed()) {
        // The raw evidence is on disk: resume from it rather than collect it again.
        d.action = Action::Resume;
        d.missing = facts.artifacts->missing;
        d.checked = facts.artifacts->checked;
        verb = "resume from the saved evidence, attempt ";
        d.next_command = "hermes kanban" + bf + " comment " + facts.task_id +
                         " \"medic: resume from the saved evidence; still missing: " + core::join(d.missing) + "\"";
      }
      d.reason = exit_text + "; " + what + ": " + verb + std::to_string(d.attempt) + " of " +
                 std::to_string(d.max_attempts) + " after a " + std::to_string(static_cast<long long>(*d.backoff_s)) +
                 " s backoff" + where + ".";
      break;
    }
    case Action::RepairAuth: {
      if (d.attempt > d.max_attempts) {
        d.action = Action::Block;
        d.reason = exit_text + "; " + what + " again after a repair: re-login to Codex for this profile.";
        d.next_command = "codex login";
        break;
      }
      d.reason = exit_text + "; " + what +
                 ": link the main user's ~/.codex/auth.json into the "
                 "profile's HOME and re-check `codex login status` before retrying.";
      d.next_command = "medic preflight --profile-home <profile HOME>";
      // The seed article's mechanical preflight (medic preflight runs exactly these).
      d.steps = {"HOME=<profile HOME> codex login status: \"Logged in\" means done",
                 std::string("if <profile HOME>/.codex/auth.json is absent and ~/.codex/auth.json exists: ") +
                     "ln -s ~/.codex/auth.json <profile HOME>/.codex/auth.json (never over a real file " +
                     "or a link medic did not create)",
                 "HOME=<profile HOME> codex login status again",
                 "still not logged in: re-login to Codex for this profile (HOME=<profile HOME> codex login)",
                 "then retry the task: hermes kanban" + bf + " unblock " + facts.task_id};
      break;
    }
    case Action::RepairEnv: {
      if (d.attempt > d.max_attempts) {
        d.action = Action::Block;
        d.reason = exit_text + "; " + what + " again after a repair; the environment needs a human.";
        d.next_command = "hermes kanban" + bf + " log " + facts.task_id;
        break;
      }
      const std::string skill = field_text(ev, "skill");
      if (!skill.empty()) {
        d.reason = exit_text + "; " + what + ": the skill(s) " + skill +
                   " are not installed; install the bundled skills, then retry.";
        d.next_command = "hermes kanban init";
      } else {
        d.reason = exit_text + "; " + what + ": install what is missing, then retry.";
        d.next_command = "hermes kanban" + bf + " log " + facts.task_id;
      }
      break;
    }
    case Action::Ignore:
      d.reason = exit_text + "; " + what + " in a side call only; nothing to do for the task.";
      break;
    case Action::Block:
    case Action::Complete: {
      d.action = Action::Block;
      switch (cls) {
        case FailureClass::QuotaExhausted:
          use(d, healthy_fallback(policy, state, d.provider, now));
          if (!d.use_provider.empty()) {
            d.action = Action::Retry;
            d.backoff_s = 0;
            d.retry_at = now;
            d.reason = exit_text + "; " + what + ": " + d.provider +
                       " needs credits or a plan change, so retry now on " + d.use_provider + ".";
            d.next_command = set_model_command(bf, facts.task_id, d);
          } else {
            d.reason = exit_text + "; " + what + ": " + (d.provider.empty() ? "the provider" : d.provider) +
                       " needs credits or a plan change (capability); never retried as is.";
            d.next_command =
                "hermes kanban" + bf + " block " + facts.task_id + " \"provider quota exhausted\" --kind capability";
          }
          break;
        case FailureClass::AuthRegion:
          d.reason = exit_text + "; " + what +
                     ": the request lacks the residency header "
                     "x-openai-internal-codex-residency (or the region is not served); not retryable as is.";
          d.next_command = "hermes kanban" + bf + " block " + facts.task_id + " \"region/residency\" --kind capability";
          break;
        case FailureClass::ContextLength:
          if (policy.context_length_model) {
            d.action = Action::Retry;
            d.backoff_s = 0;
            d.retry_at = now;
            // "provider/model": the provider is the part before the first '/'.
            const std::string& pm = *policy.context_length_model;
            const std::size_t slash = pm.find('/');
            d.use_provider = slash == std::string::npos ? pm : pm.substr(0, slash);
            d.use_model = slash == std::string::npos ? std::string() : pm.substr(slash + 1);
            d.reason = exit_text + "; " + what + ": retry with the larger-context model " + pm + ".";
            d.next_command = set_model_command(bf, facts.task_id, d);
          } else {
            d.reason = exit_text + "; " + what + ": the input does not fit the model; it needs input.";
            d.next_command =
                "hermes kanban" + bf + " block " + facts.task_id + " \"context too long\" --kind needs_input";
          }
          break;
        case FailureClass::ProtocolViolation: {
          const std::string pv = exit_text + " without a terminal Kanban call (protocol violation)";
          if (!facts.artifacts || !facts.artifacts->ran) {
            const bool refused = facts.artifacts && !facts.artifacts->refused.empty();
            d.reason = pv + (refused ? "; its workspace was refused (" + core::join(facts.artifacts->refused) +
                                           "), so its artifacts were not checked."
                                     : std::string("; its artifacts could not be checked (no readable workspace)."));
            d.missing = facts.artifacts ? facts.artifacts->missing : std::vector<std::string>{};
            if (facts.artifacts) d.checked = facts.artifacts->checked;
            d.next_command = "hermes kanban" + bf + " show " + facts.task_id;
            break;
          }
          const ArtifactFacts& a = *facts.artifacts;
          d.checked = a.checked;
          d.missing = a.missing;
          if (a.passed()) {
            // Every check passed: the work is done, only the Kanban call was lost.
            d.action = Action::Complete;
            d.reason = pv + ", but every acceptance check passed (" + std::to_string(a.checked.size()) +
                       " checked): complete it.";
            d.next_command = "hermes kanban" + bf + " complete " + facts.task_id +
                             " --summary \"completed by medic: artifacts pass acceptance\"";
          } else if (a.evidence && a.refused.empty()) {
            d.action = Action::Resume;
            d.reason = pv + "; the raw evidence is saved but " + std::to_string(a.missing.size()) +
                       " required output(s) are missing: resume from the evidence, do not collect again.";
            d.next_command = "hermes kanban" + bf + " unblock " + facts.task_id;
          } else {
            std::string list = core::join(a.missing);
            if (!a.refused.empty()) list += (list.empty() ? "refused: " : "; refused: ") + core::join(a.refused);
            d.reason = pv + " and the evidence is insufficient; missing: " + list + ".";
            d.next_command =
                "hermes kanban" + bf + " block " + facts.task_id + " \"missing: " + list + "\" --kind needs_input";
          }
          break;
        }
        default:
          d.reason = exit_text + "; " + what + ".";
          d.next_command = "hermes kanban" + bf + " show " + facts.task_id;
      }
      break;
    }
  }
  return out;
}

}  // namespace

}  // namespace medic::decide
