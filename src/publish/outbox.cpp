#include "publish/outbox.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "loop/handles.h"

namespace medic::publish {

Outbox::Outbox(Journal& journal, loop::UvHandle<uv_timer_t> retry_timer)
    : journal_(journal), retry_(std::move(retry_timer)) {
  retry_.get()->data = this;
}

void Outbox::publish(Render render) {
  waiting_.push_back(std::move(render));
  flush();
}

std::size_t Outbox::flush() {
  while (!waiting_.empty()) {
    auto line = journal_.append(waiting_.front());
    if (!line) {
      ++journal_failures_;
      if (retry_ && !uv_is_active(retry_.handle())) {
        spdlog::critical("journal write failed: {}; {} message(s) wait, retried every second", line.error().message,
                         waiting_.size());
        loop::arm(
            retry_, [](uv_timer_t* t) { static_cast<Outbox*>(t->data)->flush(); }, 1000, 0, "journal retry");
      }
      return waiting_.size();
    }
    waiting_.pop_front();
    if (publisher_) publisher_->publish(*line);
  }
  return 0;
}

}  // namespace medic::publish
