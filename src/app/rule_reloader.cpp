#include "app/rule_reloader.h"

#include <spdlog/spdlog.h>

#include <memory>

namespace medic::app {

struct RuleReloader::Work {
  uv_work_t req{};
  RuleReloader* self = nullptr;
  LoadedRules loaded;
};

RuleReloader::RuleReloader(uv_loop_t* loop, Compile compile, OnLoaded on_loaded)
    : loop_(loop), compile_(std::move(compile)), on_loaded_(std::move(on_loaded)) {}

void RuleReloader::request() {
  if (stopped_) return;
  if (running_) {
    again_ = true;
    return;
  }
  running_ = true;
  auto w = std::make_unique<Work>();
  w->req.data = w.get();
  w->self = this;
  Work* queued = w.release();  // the after-work callback owns it once queued
  const int rc = uv_queue_work(
      loop_, &queued->req,
      [](uv_work_t* r) {
        auto* w = static_cast<Work*>(r->data);
        w->loaded = w->self->compile_();
      },
      [](uv_work_t* r, int) {
        std::unique_ptr<Work> w(static_cast<Work*>(r->data));
        RuleReloader& self = *w->self;
        self.running_ = false;
        if (self.stopped_) return;
        self.on_loaded_(std::move(w->loaded));
        if (self.again_) {
          self.again_ = false;
          self.request();
        }
      });
  if (rc != 0) {
    w.reset(queued);  // never queued: still ours
    running_ = false;
    spdlog::error("rules reload not started: uv_queue_work: {}; the running rules are kept", uv_strerror(rc));
  }
}

}  // namespace medic::app
