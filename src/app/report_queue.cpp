#include "app/report_queue.h"

#include <spdlog/spdlog.h>

#include <ctime>

namespace medic::app {

void ReportQueue::add(const std::string& path, report::Update u) {
  pending_[path].merge(std::move(u));
  if (!busy_) start();
}

void ReportQueue::start() {
  if (pending_.empty()) return;
  busy_ = true;
  running_.swap(pending_);
  failures_.clear();
  const int rc = uv_queue_work(
      loop_, &req_,
      [](uv_work_t* req) {
        auto* self = static_cast<ReportQueue*>(req->data);
        const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
        for (const auto& [path, update] : self->running_) {
          if (auto r = report::append(path, update, now); !r) self->failures_.push_back(r.error().message);
        }
      },
      [](uv_work_t* req, int) {
        auto* self = static_cast<ReportQueue*>(req->data);
        self->writes_ += self->running_.size() - self->failures_.size();
        self->errors_ += self->failures_.size();
        for (const auto& f : self->failures_) spdlog::warn("state report not written: {}", f);
        self->running_.clear();
        self->busy_ = false;
        self->start();
      });
  if (rc != 0) {
    // Cannot happen on a live loop; keep the updates for the next add.
    spdlog::warn("state report write not queued: {}", uv_strerror(rc));
    auto newer = std::move(pending_);
    pending_ = std::move(running_);
    for (auto& [path, u] : newer) pending_[path].merge(std::move(u));
    running_.clear();
    busy_ = false;
  }
}

}  // namespace medic::app
