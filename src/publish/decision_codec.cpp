#include "publish/decision_codec.h"

#include <simdjson.h>

#include "core/json_fields.h"
#include "match/hit.h"
#include "rules/failure_class.h"
#include "rules/policy.h"

namespace medic::publish {
namespace {

// Every message opens with its type and seq.
void begin_message(core::JsonWriter& w, const char* type, std::uint64_t seq) {
  w.begin_object();
  w.key("type").value(type);
  w.key("seq").value(static_cast<std::int64_t>(seq));
}

}  // namespace

std::string encode_decision(const decide::Decision& d, std::uint64_t seq) {
  std::string out;
  core::JsonWriter w(out);
  begin_message(w, "decision", seq);
  w.key("id").value(d.id);
  w.key("task_id").value(d.task_id);
  w.key("run_id").value(d.run_id);
  w.key("board").value(d.board);
  w.key("workspace");
  if (d.workspace.empty())
    w.null();
  else
    w.value(d.workspace);
  w.key("assignee");
  if (d.assignee.empty())
    w.null();
  else
    w.value(d.assignee);
  w.key("class");
  if (d.failure_class)
    w.value(rules::to_string(*d.failure_class));
  else
    w.null();
  w.key("action").value(rules::to_string(d.action));
  w.key("retry_at");
  if (d.retry_at)
    w.value(*d.retry_at);
  else
    w.null();
  w.key("backoff_s");
  if (d.backoff_s)
    w.value(*d.backoff_s);
  else
    w.null();
  w.key("provider");
  if (d.provider.empty())
    w.null();
  else
    w.value(d.provider);
  w.key("use_provider");
  if (d.use_provider.empty())
    w.null();
  else
    w.value(d.use_provider);
  w.key("use_model");
  if (d.use_model.empty())
    w.null();
  else
    w.value(d.use_model);
  w.key("attempt").value(d.attempt);
  w.key("max_attempts").value(d.max_attempts);
  w.key("missing").begin_array();
  for (const auto& m : d.missing) w.value(m);
  w.end_array();
  w.key("checked").begin_array();
  for (const auto& c : d.checked) w.value(c);
  w.end_array();
  w.key("next_command");
  if (d.next_command.empty())
    w.null();
  else
    w.value(d.next_command);
  if (!d.steps.empty()) {
    w.key("steps").begin_array();
    for (const auto& st : d.steps) w.value(st);
    w.end_array();
  }
  w.key("reason").value(d.reason);
  w.key("evidence");
  if (d.evidence) {
    w.begin_object();
    w.key("rule").value(d.evidence->rule);
    w.key("path").value(d.evidence->path);
    w.key("line").value(static_cast<std::int64_t>(d.evidence->line));
    w.key("text").value(d.evidence->text);
    w.key("fields");
    match::write_fields(w, d.evidence->fields);
    w.end_object();
  } else {
    w.null();
  }
  w.key("exit").begin_object();
  w.key("rc");
  if (d.exit.rc)
    w.value(*d.exit.rc);
  else
    w.null();
  w.key("seen_by").value(decide::to_string(d.exit.seen_by));
  if (d.exit.signal) w.key("signal").value(*d.exit.signal);
  if (!d.exit.event_kind.empty()) w.key("event").value(d.exit.event_kind);
  if (d.exit.waited) w.key("waited").value(true);
  w.key("at").value(d.exit.at);
  w.end_object();
  if (d.breaker) {
    // Hermes's own breaker at this exit (decide/breaker.h), so a dispatcher sees why a
    // retry became a block, or that this retry overrides it on purpose.
    w.key("breaker").begin_object();
    w.key("failures").value(d.breaker->failures);
    w.key("limit").value(d.breaker->limit);
    w.key("budget").value(d.breaker->budget);
    w.key("trips").value(d.breaker->trips);
    w.key("overridden").value(d.overrides_breaker);
    w.end_object();
  }
  w.key("decided_at").value(d.decided_at);
  w.end_object();
  return out;
}

std::string encode_health(const decide::ProviderHealth& h, std::uint64_t seq) {
  std::string out;
  core::JsonWriter w(out);
  begin_message(w, "provider_health", seq);
  w.key("provider").value(h.provider);
  w.key("unhealthy_until").value(h.unhealthy_until);
  w.key("reason").value(h.reason);
  w.end_object();
  return out;
}

std::string encode_run_ended(const RunEnded& r, std::uint64_t seq) {
  std::string out;
  core::JsonWriter w(out);
  begin_message(w, "run_ended", seq);
  w.key("id").value(r.decision_id);
  w.key("board").value(r.board);
  w.key("task_id").value(r.task_id);
  w.key("run_id").value(r.run_id);
  w.key("event").value(r.event);
  w.key("at").value(r.at);
  w.end_object();
  return out;
}

namespace {

using core::json::number;
using core::json::str;
using core::json::strings;

// A message line of `type`, parsed into `parser`.
core::Result<simdjson::dom::element> parse_message(simdjson::dom::parser& parser, std::string_view line,
                                                   std::string_view type) {
  simdjson::dom::element doc;
  simdjson::dom::object obj;
  if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS ||
      doc.get_object().get(obj) != simdjson::SUCCESS)
    return core::fail(core::ErrorCode::Parse, "not a JSON object");
  if (str(doc, "type") != type) return core::fail(core::ErrorCode::InvalidArgument, "not a " + std::string(type));
  return doc;
}

}  // namespace

std::string message_type(std::string_view line) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(line.data(), line.size()).get(doc) != simdjson::SUCCESS) return {};
  return str(doc, "type");
}

core::Result<RunEndedMessage> decode_run_ended(std::string_view line) {
  simdjson::dom::parser parser;
  auto parsed = parse_message(parser, line, "run_ended");
  if (!parsed) return tl::unexpected(parsed.error());
  const simdjson::dom::element doc = *parsed;
  RunEndedMessage m;
  m.seq = static_cast<std::uint64_t>(number(doc, "seq").value_or(0));
  RunEnded& r = m.run;
  r.decision_id = str(doc, "id");
  r.board = str(doc, "board");
  r.task_id = str(doc, "task_id");
  r.run_id = number(doc, "run_id").value_or(0);
  r.event = str(doc, "event");
  r.at = number(doc, "at").value_or(0);
  if (r.decision_id.empty() || r.run_id <= 0)
    return core::fail(core::ErrorCode::InvalidArgument, "a run_ended without id or run_id");
  return m;
}

core::Result<DecisionMessage> decode_decision(std::string_view line) {
  simdjson::dom::parser parser;
  auto parsed = parse_message(parser, line, "decision");
  if (!parsed) return tl::unexpected(parsed.error());
  const simdjson::dom::element doc = *parsed;
  DecisionMessage m;
  decide::Decision& d = m.decision;
  m.seq = static_cast<std::uint64_t>(number(doc, "seq").value_or(0));
  d.id = str(doc, "id");
  d.task_id = str(doc, "task_id");
  d.board = str(doc, "board");
  if (d.board.empty()) d.board = "default";
  d.run_id = number(doc, "run_id").value_or(0);
  d.workspace = str(doc, "workspace");
  d.assignee = str(doc, "assignee");
  d.failure_class = rules::parse_failure_class(str(doc, "class"));
  const auto action = rules::parse_action(str(doc, "action"));
  if (d.id.empty() || d.task_id.empty() || !action)
    return core::fail(core::ErrorCode::InvalidArgument, "a decision needs id, task_id and a known action");
  d.action = *action;
  if (auto r = number(doc, "retry_at")) d.retry_at = *r;
  double backoff = 0;
  if (doc["backoff_s"].get_double().get(backoff) == simdjson::SUCCESS) d.backoff_s = backoff;
  d.provider = str(doc, "provider");
  d.use_provider = str(doc, "use_provider");
  d.use_model = str(doc, "use_model");
  d.attempt = static_cast<int>(number(doc, "attempt").value_or(1));
  d.max_attempts = static_cast<int>(number(doc, "max_attempts").value_or(1));
  d.missing = strings(doc, "missing");
  d.checked = strings(doc, "checked");
  d.steps = strings(doc, "steps");
  d.next_command = str(doc, "next_command");
  d.reason = str(doc, "reason");
  d.decided_at = number(doc, "decided_at").value_or(0);
  simdjson::dom::element exit;
  if (doc["exit"].get(exit) == simdjson::SUCCESS && exit.is_object()) {
    if (auto rc = number(exit, "rc")) d.exit.rc = static_cast<int>(*rc);
    if (auto sig = number(exit, "signal")) d.exit.signal = static_cast<int>(*sig);
    const std::string seen = str(exit, "seen_by");
    d.exit.seen_by = seen == "pid"     ? decide::ExitSource::Pid
                     : seen == "event" ? decide::ExitSource::Event
                                       : decide::ExitSource::Trailer;
    d.exit.event_kind = str(exit, "event");
    bool waited = false;
    if (exit["waited"].get_bool().get(waited) == simdjson::SUCCESS) d.exit.waited = waited;
    d.exit.at = number(exit, "at").value_or(0);
  }
  simdjson::dom::element breaker;
  if (doc["breaker"].get(breaker) == simdjson::SUCCESS && breaker.is_object()) {
    decide::BreakerOutlook o;
    o.counted = true;
    o.failures = static_cast<int>(number(breaker, "failures").value_or(0));
    o.limit = static_cast<int>(number(breaker, "limit").value_or(0));
    o.budget = str(breaker, "budget");
    bool b = false;
    if (breaker["trips"].get_bool().get(b) == simdjson::SUCCESS) o.trips = b;
    if (breaker["overridden"].get_bool().get(b) == simdjson::SUCCESS) d.overrides_breaker = b;
    d.breaker = o;
  }
  simdjson::dom::element ev;
  if (doc["evidence"].get(ev) == simdjson::SUCCESS && ev.is_object()) {
    decide::Evidence e;
    e.rule = str(ev, "rule");
    e.path = str(ev, "path");
    e.line = static_cast<std::uint64_t>(number(ev, "line").value_or(0));
    e.text = str(ev, "text");
    d.evidence = std::move(e);
  }
  return m;
}

}  // namespace medic::publish
