#include "act/store.h"

#include <simdjson.h>

#include "core/json_fields.h"
#include "core/ids.h"
#include "core/json_writer.h"

namespace medic::act {

using core::json::number_or;
using core::json::str;

std::string encode_state(const ActState& s) {
  std::string out;
  core::JsonWriter w(out);
  w.begin_object();
  w.key("last_seq").value(static_cast<std::int64_t>(s.last_seq));
  w.key("applied").begin_array();
  for (const auto& id : s.applied) w.value(id);
  w.end_array();
  w.key("timers").begin_array();
  for (const auto& t : s.timers) {
    w.begin_object();
    w.key("decision_id").value(t.decision_id).key("board").value(t.board).key("task").value(t.task);
    w.key("workspace").value(t.workspace).key("at").value(t.at).key("overrides_breaker").value(t.overrides_breaker);
    w.end_object();
  }
  w.end_array();
  w.key("waits").begin_array();
  for (const auto& t : s.waits) {
    w.begin_object();
    w.key("decision_id").value(t.decision_id).key("board").value(t.board).key("task").value(t.task);
    w.key("run_id").value(t.run_id).key("workspace").value(t.workspace).key("decision").value(t.decision);
    w.key("until").value(t.until);
    w.end_object();
  }
  w.end_array();
  w.end_object();
  out += '\n';
  return out;
}

core::Result<ActState> decode_state(std::string_view text, std::size_t* dropped) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  const simdjson::padded_string json(text);
  simdjson::dom::object obj;
  if (parser.parse(json).get(doc) != simdjson::SUCCESS || doc.get_object().get(obj) != simdjson::SUCCESS)
    return core::fail(core::ErrorCode::Parse, "not a JSON object");
  ActState s;
  s.last_seq = static_cast<std::uint64_t>(std::max<std::int64_t>(0, number_or(doc, "last_seq")));
  simdjson::dom::array list;
  if (doc["applied"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      std::string_view id;
      if (e.get_string().get(id) == simdjson::SUCCESS) s.applied.emplace_back(id);
    }
    while (s.applied.size() > kMaxApplied) s.applied.pop_front();
  }
  if (doc["timers"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      TimerState t;
      t.decision_id = str(e, "decision_id");
      t.board = str(e, "board");
      t.task = str(e, "task");
      if (t.decision_id.empty() || !core::valid_task_id(t.task) || !core::valid_board_slug(t.board)) {
        if (dropped) ++*dropped;
        continue;
      }
      t.workspace = str(e, "workspace");
      t.at = number_or(e, "at");
      bool b = false;
      if (e["overrides_breaker"].get_bool().get(b) == simdjson::SUCCESS) t.overrides_breaker = b;
      s.timers.push_back(std::move(t));
    }
  }
  if (doc["waits"].get_array().get(list) == simdjson::SUCCESS) {
    for (simdjson::dom::element e : list) {
      WaitState t;
      t.decision_id = str(e, "decision_id");
      t.board = str(e, "board");
      t.task = str(e, "task");
      t.run_id = number_or(e, "run_id");
      if (t.decision_id.empty() || t.run_id <= 0 || !core::valid_task_id(t.task) || !core::valid_board_slug(t.board)) {
        if (dropped) ++*dropped;
        continue;
      }
      t.workspace = str(e, "workspace");
      t.decision = str(e, "decision");
      t.until = number_or(e, "until");
      s.waits.push_back(std::move(t));
    }
  }
  return s;
}

}  // namespace medic::act
