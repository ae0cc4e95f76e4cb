#include "report/report_queue.h"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <ctime>

#include "core/clock.h"
#include "loop/handles.h"

namespace medic::report {
namespace {

std::int64_t now_s() { return core::SystemClock().now(); }

}  // namespace

core::Result<std::unique_ptr<ReportQueue>> ReportQueue::create(uv_loop_t* loop) {
  std::unique_ptr<ReportQueue> q(new ReportQueue(loop));
  auto pace = loop::make_timer(loop, q.get());
  if (!pace) return tl::unexpected(pace.error());
  q->pace_ = std::move(*pace);
  auto done = loop::make_async(loop, q.get(), [](uv_async_t* a) { static_cast<ReportQueue*>(a->data)->job_done(); });
  if (!done) return tl::unexpected(done.error());
  q->done_ = std::move(*done);
  // Like a threadpool request, the handle keeps the loop alive only while a job runs.
  uv_unref(reinterpret_cast<uv_handle_t*>(q->done_.get()));
  q->thread_ = std::thread([raw = q.get()] { raw->work(); });
  return q;
}

ReportQueue::~ReportQueue() { stop_thread(); }

void ReportQueue::stop_thread() {
  {
    std::lock_guard lock(m_);
    quit_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ReportQueue::work() {
  // Linux: nice is per thread, and this thread only writes reports.
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lock(m_);
  for (;;) {
    cv_.wait(lock, [this] { return quit_ || (job_ && !job_done_); });
    if (quit_) return;
    lock.unlock();
    const std::int64_t now = now_s();
    for (const auto& [path, p] : running_) {
      if (auto r = append(p.where, p.update, now); !r) failures_.push_back(r.error().message);
    }
    lock.lock();
    job_done_ = true;
    cv_.notify_all();  // shutdown() may be waiting
    if (done_) uv_async_send(done_.get());
  }
}

void ReportQueue::add(const Location& where, Update u) {
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
  loop::arm(
      pace_, [](uv_timer_t* t) { static_cast<ReportQueue*>(t->data)->start(); }, last_start_ms_ + kMinIntervalMs - now,
      0, "state report pacing");
}

void ReportQueue::start() {
  if (pending_.empty() || busy_) return;
  busy_ = true;
  last_start_ms_ = uv_now(loop_);
  running_.swap(pending_);
  failures_.clear();
  uv_ref(reinterpret_cast<uv_handle_t*>(done_.get()));
  {
    std::lock_guard lock(m_);
    job_ = true;
    job_done_ = false;
  }
  cv_.notify_all();
}

void ReportQueue::job_done() {
  {
    std::lock_guard lock(m_);
    if (!job_ || !job_done_) return;  // (an async send can be coalesced or come late)
    job_ = false;
    job_done_ = false;
  }
  if (done_) uv_unref(reinterpret_cast<uv_handle_t*>(done_.get()));
  writes_ += running_.size() - failures_.size();
  errors_ += failures_.size();
  for (const auto& f : failures_) spdlog::warn("state report not written: {}", f);
  running_.clear();
  busy_ = false;
  if (stopping_)
    write_pending_now();
  else if (!pending_.empty())
    start_paced();
}

void ReportQueue::write_pending_now() {
  const std::int64_t now = now_s();
  for (const auto& [path, p] : pending_) {
    if (auto r = append(p.where, p.update, now); !r) {
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
  if (busy_) {
    std::unique_lock lock(m_);
    cv_.wait(lock, [this] { return job_done_; });
    lock.unlock();
    job_done();
  }
  write_pending_now();
  stop_thread();
  done_.reset();
}

}  // namespace medic::report
