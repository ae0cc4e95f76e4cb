// The task_events payload parser on arbitrary bytes: never crashes; what it refuses leaves
// the event's own fields (kind, run) alone.

#include <string_view>

#include "fuzz/fuzz_target.h"
#include "kanban/board_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  medic::kanban::KanbanEvent e;
  e.kind = "crashed";
  e.run_id = 7;
  const bool ok = medic::kanban::parse_event_payload(std::string_view(reinterpret_cast<const char*>(data), size), e);
  FUZZ_CHECK(e.kind == "crashed" && e.run_id == 7);
  if (!ok) {
    FUZZ_CHECK(!e.pid && !e.exit_code && !e.started_at);
  }
  return 0;
}
