#pragma once
// RAII for libuv handles (the uvw model): the handle lives on the heap, `data` points at
// its owner, and destruction calls uv_close with a callback that frees the memory,
// because libuv still touches a handle after uv_close until that callback runs.
// Only for use on the loop thread.

#include <uv.h>

#include <cstddef>
#include <utility>

namespace medic::loop {

/// The `data` of a handle whose close close_loop() made and finished.
inline void* closed_by_close_loop() {
  static char marker;
  return &marker;
}

template <class T>
class UvHandle {
 public:
  UvHandle() = default;
  explicit UvHandle(void* owner) : h_(new T{}) { h_->data = owner; }
  ~UvHandle() { reset(); }
  UvHandle(UvHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)), live_(o.live_) {}
  UvHandle& operator=(UvHandle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
      live_ = o.live_;
    }
    return *this;
  }
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;

  T* get() const { return h_; }
  uv_handle_t* handle() const { return reinterpret_cast<uv_handle_t*>(h_); }
  /// Call after a successful uv_*_init: from then on the handle must be closed.
  void mark_initialized() { live_ = true; }
  explicit operator bool() const { return h_ != nullptr; }

  void reset() {
    if (!h_) return;
    if (live_) {
      if (!uv_is_closing(handle())) {
        uv_close(handle(), [](uv_handle_t* h) { delete reinterpret_cast<T*>(h); });
      } else if (h_->data == closed_by_close_loop()) {
        delete h_;  // close_loop closed it and its close is done: the memory is still ours
      }
      // (closing otherwise: a close in flight that is not ours; never freed under it)
    } else {
      delete h_;
    }
    h_ = nullptr;
    live_ = false;
  }

 private:
  T* h_ = nullptr;
  bool live_ = false;
};

/// Closes every handle still open on `loop` and runs it until they are gone, then
/// closes the loop (the libuv tests' MAKE_VALGRIND_HAPPY). A handle closed here is marked
/// when its close is done, so a UvHandle that still owns it frees it when it goes, rather
/// than leaking it. Returns how many handles were still open: each is a teardown that
/// forgot one, for the caller to log.
inline std::size_t close_loop(uv_loop_t* loop) {
  std::size_t open = 0;
  uv_walk(
      loop,
      [](uv_handle_t* h, void* n) {
        if (uv_is_closing(h)) return;
        ++*static_cast<std::size_t*>(n);
        uv_close(h, [](uv_handle_t* x) { x->data = closed_by_close_loop(); });
      },
      &open);
  while (uv_loop_close(loop) == UV_EBUSY) uv_run(loop, UV_RUN_ONCE);
  return open;
}

}  // namespace medic::loop
