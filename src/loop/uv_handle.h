#pragma once
// RAII for libuv handles (the uvw model): the handle lives on the heap, `data` points at
// its owner, and destruction calls uv_close with a callback that frees the memory,
// because libuv still touches a handle after uv_close until that callback runs.
// Only for use on the loop thread.

#include <uv.h>

#include <utility>

namespace medic::loop {

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
      }
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
/// closes the loop (the libuv tests' MAKE_VALGRIND_HAPPY).
inline void close_loop(uv_loop_t* loop) {
  uv_walk(
      loop,
      [](uv_handle_t* h, void*) {
        if (!uv_is_closing(h)) uv_close(h, nullptr);
      },
      nullptr);
  while (uv_loop_close(loop) == UV_EBUSY) uv_run(loop, UV_RUN_ONCE);
}

}  // namespace medic::loop
