#include "loop/handles.h"

#include <spdlog/spdlog.h>

namespace medic::loop {

void arm(const UvHandle<uv_timer_t>& t, uv_timer_cb cb, std::uint64_t timeout_ms, std::uint64_t repeat_ms,
         std::string_view what) {
  if (auto ok = start_timer(t, cb, timeout_ms, repeat_ms); !ok) spdlog::error("{}: {}", what, ok.error().message);
}

}  // namespace medic::loop
