#pragma once
// Writes the state reports off the loop thread (each write fsyncs). Updates for a file
// are merged while a write is in flight or waiting, and one job at a time writes every
// pending file, at most once a second: the reports are for people, and a burst of a
// thousand decisions costs a few writes per file instead of a thousand. Order per file is
// kept. A write that fails is logged and counted; the decision was published already.
// shutdown() writes what is pending before the daemon exits.
// Thread: the loop thread, except the job, which runs on the queue's own thread at nice
// 10 (background work: the loop thread, and the libuv threadpool that runs the acceptance
// checks on the exit path, go first; a niced pool thread made those checks wait behind
// any busy process, milliseconds at p50).

#include <uv.h>

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <memory>
#include <thread>
#include <vector>

#include "core/result.h"
#include "loop/uv_handle.h"
#include "report/state_report.h"

namespace medic::report {

class ReportQueue {
 public:
  /// The queue with its timer, its wake-up handle and its thread, or why libuv refused one.
  [[nodiscard]] static core::Result<std::unique_ptr<ReportQueue>> create(uv_loop_t* loop);
  ~ReportQueue();
  ReportQueue(const ReportQueue&) = delete;
  ReportQueue& operator=(const ReportQueue&) = delete;

  void add(const Location& where, Update u);
  /// Stops the pacing timer, waits for the job in flight, and writes what is pending.
  void shutdown();
  std::uint64_t writes() const { return writes_; }
  std::uint64_t errors() const { return errors_; }

  static constexpr std::uint64_t kMinIntervalMs = 1000;

 private:
  explicit ReportQueue(uv_loop_t* loop) : loop_(loop) {}
  void start();
  void start_paced();
  void write_pending_now();
  void job_done();  // on the loop thread: count the job's writes, start the next
  void work();      // the thread's body
  void stop_thread();

  uv_loop_t* loop_;
  loop::UvHandle<uv_timer_t> pace_;
  loop::UvHandle<uv_async_t> done_;  // the thread's "job done" to the loop
  std::mutex m_;
  std::condition_variable cv_;
  bool job_ = false;       // under m_: a job is handed to the thread
  bool job_done_ = false;  // under m_: ... and it is written
  bool quit_ = false;      // under m_
  std::thread thread_;
  bool busy_ = false;
  bool stopping_ = false;
  std::uint64_t last_start_ms_ = 0;
  struct Pending {
    Location where;
    Update update;
  };
  std::map<std::string, Pending> pending_;  // by display path; loop thread
  std::map<std::string, Pending> running_;  // the job's, while busy_
  std::vector<std::string> failures_;       // the job's, read in its after callback
  std::uint64_t writes_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace medic::report
