#include "app/report_queue.h"
#include "core/clock.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>

namespace medic::app {
namespace {

std::int64_t now_s() { return core::SystemClock().now(); }

}  // namespace

ReportQueue::ReportQueue(uv_loop_t* loop) : loop_(loop), pace_(this) {
  req_.data = this;
  uv_timer_init(loop_, pace_.get());
  pace_.mark_initialized();
}

void ReportQueue::add(const report::Location& where, report::Update u) {
  Pending& p = pending_[where.display()];
  p.where = where;
  p.update.merge(std::move(u));
  if (stopping_) {
    if (!busy_) write_pending_now();  // else the job in flight's callback writes it
    return;
  }
  if (!busy_ && !uv_is_active(reinterpret_cast<uv_handle_t*>(pace_.get()))) start_paced();
}

void ReportQueue::start_paced() {
  const std::uint64_t now = uv_now(loop_);
  if (last_start_ms_ == 0 || now >= last_start_ms_ + kMinIntervalMs) {
    start();
    return;
  }
  uv_timer_start(
      pace_.get(), [](uv_timer_t* t) { static_cast<ReportQueue*>(t->data)->start(); },
      last_start_ms_ + kMinIntervalMs - now, 0);
}

void ReportQueue::start() {
  if (pending_.empty() || busy_) return;
  busy_ = true;
  last_start_ms_ = uv_now(loop_);
  running_.swap(pending_);
  failures_.clear();
  const int rc = uv_queue_work(
      loop_, &req_,
      [](uv_work_t* req) {
        auto* self = static_cast<ReportQueue*>(req->data);
        // Reports are background work: on a loaded host the loop thread, which publishes
        // decisions, goes first. (Linux: nice is per thread; the pool only runs such work.)
        static thread_local const bool lowered = ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10) == 0;
        (void)lowered;
        const std::int64_t now = now_s();
        for (const auto& [path, p] : self->running_) {
          if (auto r = report::append(p.where, p.update, now); !r) self->failures_.push_back(r.error().message);
        }
      },
      [](uv_work_t* req, int) {
        auto* self = static_cast<ReportQueue*>(req->data);
        self->writes_ += self->running_.size() - self->failures_.size();
        self->errors_ += self->failures_.size();
        for (const auto& f : self->failures_) spdlog::warn("state report not written: {}", f);
        self->running_.clear();
        self->busy_ = false;
        if (self->stopping_)
          self->write_pending_now();
        else if (!self->pending_.empty())
          self->start_paced();
      });
  if (rc != 0) {
    // Cannot happen on a live loop; keep the updates, oldest first, for the next try.
    spdlog::warn("state report write not queued: {}", uv_strerror(rc));
    auto newer = std::move(pending_);
    pending_ = std::move(running_);
    for (auto& [path, p] : newer) {
      Pending& into = pending_[path];
      into.where = p.where;
      into.update.merge(std::move(p.update));
    }
    running_.clear();
    busy_ = false;
  }
}

void ReportQueue::write_pending_now() {
  const std::int64_t now = now_s();
  for (const auto& [path, p] : pending_) {
    if (auto r = report::append(p.where, p.update, now); !r) {
      ++errors_;
      spdlog::warn("state report not written: {}", r.error().message);
    } else {
      ++writes_;
    }
  }
  pending_.clear();
}

void ReportQueue::shutdown() {
  stopping_ = true;
  pace_.reset();  // closed with the loop; nothing is paced any more
  if (!busy_) write_pending_now();
}

}  // namespace medic::app
