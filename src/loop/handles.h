#pragma once
// Handles made through factories that say when libuv refused them, instead of uv_*_init
// and uv_*_start calls whose results nobody reads. Each returns an initialised UvHandle
// (closed through its callback when it goes) or an Error naming the call and libuv's
// reason. Thread: the loop thread.

#include <uv.h>

#include <string>
#include <string_view>

#include "core/result.h"
#include "loop/uv_handle.h"

namespace medic::loop {

/// A libuv status as a Result: 0 is success, anything else names `what` and the reason.
inline core::Result<void> check(int rc, std::string_view what) {
  if (rc == 0) return {};
  return core::fail(core::ErrorCode::Internal, std::string(what) + ": " + uv_strerror(rc));
}

[[nodiscard]] inline core::Result<UvHandle<uv_timer_t>> make_timer(uv_loop_t* loop, void* owner) {
  UvHandle<uv_timer_t> h(owner);
  if (auto ok = check(uv_timer_init(loop, h.get()), "uv_timer_init"); !ok) return tl::unexpected(ok.error());
  h.mark_initialized();
  return h;
}

[[nodiscard]] inline core::Result<UvHandle<uv_pipe_t>> make_pipe(uv_loop_t* loop, void* owner) {
  UvHandle<uv_pipe_t> h(owner);
  if (auto ok = check(uv_pipe_init(loop, h.get(), 0), "uv_pipe_init"); !ok) return tl::unexpected(ok.error());
  h.mark_initialized();
  return h;
}

[[nodiscard]] inline core::Result<UvHandle<uv_async_t>> make_async(uv_loop_t* loop, void* owner, uv_async_cb cb) {
  UvHandle<uv_async_t> h(owner);
  if (auto ok = check(uv_async_init(loop, h.get(), cb), "uv_async_init"); !ok) return tl::unexpected(ok.error());
  h.mark_initialized();
  return h;
}

/// A signal handler that is already started.
[[nodiscard]] inline core::Result<UvHandle<uv_signal_t>> make_signal(uv_loop_t* loop, void* owner, int signum,
                                                                     uv_signal_cb cb) {
  UvHandle<uv_signal_t> h(owner);
  if (auto ok = check(uv_signal_init(loop, h.get()), "uv_signal_init"); !ok) return tl::unexpected(ok.error());
  h.mark_initialized();
  if (auto ok = check(uv_signal_start(h.get(), cb, signum), "uv_signal_start(" + std::to_string(signum) + ")"); !ok) {
    return tl::unexpected(ok.error());
  }
  return h;
}

/// Starts (or restarts) a timer. Fails only for a handle that is closing.
[[nodiscard]] inline core::Result<void> start_timer(const UvHandle<uv_timer_t>& t, uv_timer_cb cb,
                                                    std::uint64_t timeout_ms, std::uint64_t repeat_ms = 0) {
  return check(uv_timer_start(t.get(), cb, timeout_ms, repeat_ms), "uv_timer_start");
}

/// Starts (or restarts) a timer where libuv's refusal can only mean a handle that is
/// closing, a bug: it is logged with `what` the timer is for, never dropped unread.
void arm(const UvHandle<uv_timer_t>& t, uv_timer_cb cb, std::uint64_t timeout_ms, std::uint64_t repeat_ms,
         std::string_view what);

}  // namespace medic::loop
