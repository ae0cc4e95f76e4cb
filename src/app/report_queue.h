#pragma once
// Writes the state reports off the loop thread (each write fsyncs): updates for a file
// are merged while a write is in flight, and one libuv threadpool job at a time writes
// every pending file, so order per file is kept and a burst of decisions costs one write
// per file. A write that fails is logged and counted; the decision was published already.
// Thread: add() on the loop thread; the job runs on the threadpool.

#include <uv.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "report/state_report.h"

namespace medic::app {

class ReportQueue {
 public:
  explicit ReportQueue(uv_loop_t* loop) : loop_(loop) { req_.data = this; }
  ReportQueue(const ReportQueue&) = delete;
  ReportQueue& operator=(const ReportQueue&) = delete;

  void add(const std::string& path, report::Update u);
  bool idle() const { return !busy_ && pending_.empty(); }
  std::uint64_t writes() const { return writes_; }
  std::uint64_t errors() const { return errors_; }

 private:
  void start();

  uv_loop_t* loop_;
  uv_work_t req_{};
  bool busy_ = false;
  std::map<std::string, report::Update> pending_;  // loop thread
  std::map<std::string, report::Update> running_;  // the job's, while busy_
  std::vector<std::string> failures_;              // the job's, read in its after callback
  std::uint64_t writes_ = 0;
  std::uint64_t errors_ = 0;
};

}  // namespace medic::app
