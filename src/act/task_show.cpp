#include "act/task_show.h"

#include <simdjson.h>

#include <string>

#include "core/json_fields.h"

namespace medic::act {

using core::json::number_or;
using core::json::str;

TaskView parse_show(std::string_view output, std::int64_t decision_run) {
  TaskView t;
  const auto brace = output.find('{');
  if (brace == std::string_view::npos) return t;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(simdjson::padded_string(output.substr(brace))).get(doc) != simdjson::SUCCESS) return t;
  simdjson::dom::element task;
  if (doc["task"].get(task) != simdjson::SUCCESS) task = doc;
  t.status = str(task, "status");
  t.exists = !t.status.empty();
  t.model_override = str(task, "model_override");
  t.provider_override = str(task, "provider_override");
  simdjson::dom::array runs;
  if (doc["runs"].get_array().get(runs) == simdjson::SUCCESS) {
    for (simdjson::dom::element r : runs) {
      const std::int64_t id = number_or(r, "id");
      if (id >= t.latest_run) {
        t.latest_run = id;
        t.latest_run_open = r["ended_at"].is_null();
      }
    }
  }
  // Hermes gave up after the decision's run began: a gave_up event after its first event.
  simdjson::dom::array events;
  if (doc["events"].get_array().get(events) == simdjson::SUCCESS) {
    bool run_seen = false;
    for (simdjson::dom::element e : events) {
      if (number_or(e, "run_id") == decision_run) run_seen = true;
      if (str(e, "kind") == "gave_up" && run_seen) t.gave_up = true;
      if (str(e, "kind") == "unblocked") t.gave_up = false;  // released since
    }
  }
  return t;
}

}  // namespace medic::act
