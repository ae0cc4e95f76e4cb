#pragma once
// Runs a real libuv loop until a condition holds, under a guard timer (no sleeps): the
// loop tests' one way to wait. The guard keeps the loop alive: with nothing else
// pending, the loop waits for it (an unreferenced guard let uv_run return at once, and
// a condition that never came spun the CPU forever instead of failing).

#include <uv.h>

#include <chrono>
#include <functional>

namespace medic::testing {

/// Runs `loop` until `done()` or `guard` has passed; returns done().
inline bool run_until(uv_loop_t* loop, const std::function<bool()>& done,
                      std::chrono::milliseconds guard = std::chrono::milliseconds(10000)) {
  uv_timer_t timer;
  uv_timer_init(loop, &timer);
  bool fired = false;
  timer.data = &fired;
  uv_timer_start(
      &timer, [](uv_timer_t* t) { *static_cast<bool*>(t->data) = true; }, static_cast<std::uint64_t>(guard.count()), 0);
  while (!done() && !fired) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return done();
}

}  // namespace medic::testing
