#pragma once
// Writes the state reports off the loop thread (each write fsyncs). Updates for a file
// are merged while a write is in flight or waiting, and one libuv threadpool job at a time
// writes every pending file, at most once a second: the reports are for people, and a
// burst of a thousand decisions costs a few writes per file instead of a thousand. Order
// per file is kept. A write that fails is logged and counted; the decision was published
// already. shutdown() writes what is pending before the daemon exits.
// Thread: the loop thread, except the job, which runs on the threadpool.

#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "loop/uv_handle.h"
#include "report/state_report.h"

namespace medic::app {

class ReportQueue {
 public:
  explicit ReportQueue(uv_loop_t* loop);
  ReportQueue(const ReportQueue&) = delete;
  ReportQueue& operator=(const ReportQueue&) = delete;

  void add(const report::Location& where, report::Update u);
  /// Stops the pacing timer and writes what is pending (now, or when the job in flight
  /// ends, which the loop's closing run waits for).
  void shutdown();
  std::uint64_t writes() const { return writes_; }
  std::uint64_t errors() const { return errors_; }

  static constexpr std::uint64_t kMinIntervalMs = 1000;

 private:
  void start();
  void start_paced();
  void write_pending_now();

  uv_loop_t* loop_;
  uv_work_t req_{};
  loop::UvHandle<uv_timer_t> pace_;
  bool busy_ = false;
  bool stopping_ = false;
  std::uint64_t last_start_ms_ = 0;
  struct Pending {
    report::Location where;
    report::Update update;
  };
  std::map<std::string, Pending> pending_;  // by display path; loop thread
  std::map<std::string, Pending> running_;  // the job's, while busy_
  std::vector<std::string> failures_;       // the job's, read in its after callback
  std::uint64_t writes_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace medic::app
