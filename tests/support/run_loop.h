#pragma once
// Runs a real libuv loop until a condition holds, under a guard timer (no sleeps): the
// loop tests' one way to wait. The guard keeps the loop alive, so with nothing else
// pending the loop sleeps until it (an unreferenced guard let uv_run return at once, and
// a condition that never came spun the CPU forever instead of failing). A prepare handle
// checks the condition just before the loop would sleep: once it holds, uv_stop makes
// that poll return at once, instead of the loop sleeping until the guard after work done
// in a timer callback.

#include <uv.h>

#include <chrono>
#include <functional>

namespace medic::testing {

/// Runs `loop` until `done()` or `guard` has passed; returns done().
inline bool run_until(uv_loop_t* loop, const std::function<bool()>& done,
                      std::chrono::milliseconds guard = std::chrono::milliseconds(10000)) {
  struct State {
    const std::function<bool()>* done;
    bool fired = false;
  } state{&done};
  uv_timer_t timer;
  uv_timer_init(loop, &timer);
  timer.data = &state;
  uv_timer_start(
      &timer, [](uv_timer_t* t) { static_cast<State*>(t->data)->fired = true; },
      static_cast<std::uint64_t>(guard.count()), 0);
  uv_prepare_t prepare;
  uv_prepare_init(loop, &prepare);
  prepare.data = &state;
  uv_prepare_start(&prepare, [](uv_prepare_t* p) {
    if ((*static_cast<State*>(p->data)->done)()) uv_stop(p->loop);
  });
  uv_unref(reinterpret_cast<uv_handle_t*>(&prepare));  // it never keeps the loop alive
  while (!done() && !state.fired) uv_run(loop, UV_RUN_ONCE);
  uv_close(reinterpret_cast<uv_handle_t*>(&prepare), nullptr);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer), nullptr);
  uv_run(loop, UV_RUN_NOWAIT);
  return done();
}

}  // namespace medic::testing
