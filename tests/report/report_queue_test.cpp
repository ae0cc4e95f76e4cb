// ReportQueue on a real loop and threadpool: a burst of updates to one report is written
// in one or two jobs with every row in order; a refused location is counted as an error
// and the others are still written; shutdown writes what is pending.
#include "report/report_queue.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "integration/process.h"
#include "support/run_loop.h"

namespace medic::report {
namespace {

using testing::run_until;

using testing::read_file;
using testing::TempDir;

Update decision(const std::string& id) {
  Update u;
  DecisionRow r;
  r.id = id;
  r.time = 1796205240;
  r.board = "default";
  r.task = "t_1";
  r.failure_class = "timeout";
  r.action = "retry";
  r.reason = "row " + id;
  u.decisions.push_back(r);
  return u;
}

class ReportQueueTest : public ::testing::Test {
 protected:
  void SetUp() override { uv_loop_init(&loop_); }
  void TearDown() override {
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  uv_loop_t loop_{};
};

TEST_F(ReportQueueTest, ABurstToOneReportIsMergedAndKeepsItsOrder) {
  TempDir dir;
  const Location where{dir.path(), "", "PROJECT_STATE.md"};
  {
    auto made = ReportQueue::create(&loop_);
    ASSERT_TRUE(made) << made.error().message;
    ReportQueue& q = **made;
    for (int i = 0; i < 50; ++i) q.add(where, decision("d" + std::to_string(i)));
    ASSERT_TRUE(run_until(
        &loop_, [&] { return read_file(dir.path() + "/PROJECT_STATE.md").find("row d49") != std::string::npos; }));
    // 50 updates: the first job writes what was there, the rest wait for one more job.
    EXPECT_LE(q.writes(), 2u);
    EXPECT_EQ(q.errors(), 0u);
    q.shutdown();
  }
  const std::string text = read_file(dir.path() + "/PROJECT_STATE.md");
  std::size_t last = 0;
  for (int i = 0; i < 50; ++i) {
    const auto at = text.find("row d" + std::to_string(i) + " ");
    ASSERT_NE(at, std::string::npos) << "row d" << i << " missing";
    EXPECT_GT(at, last) << "row d" << i << " out of order";
    last = at;
  }
}

TEST_F(ReportQueueTest, ARefusedLocationIsCountedAndTheOthersAreWritten) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() + "/real");
  std::filesystem::create_directory_symlink(dir.path() + "/real", dir.path() + "/link");
  const Location refused{dir.path(), "link", "PROJECT_STATE.md"};
  const Location fine{dir.path(), "real", "PROJECT_STATE.md"};
  auto made = ReportQueue::create(&loop_);
  ASSERT_TRUE(made) << made.error().message;
  ReportQueue& q = **made;
  q.add(refused, decision("a"));
  q.add(fine, decision("b"));
  ASSERT_TRUE(run_until(&loop_, [&] { return q.errors() + q.writes() >= 2; }));
  EXPECT_EQ(q.errors(), 1u);
  EXPECT_NE(read_file(dir.path() + "/real/PROJECT_STATE.md").find("row b"), std::string::npos);
  q.shutdown();
}

TEST_F(ReportQueueTest, ShutdownWritesWhatIsPending) {
  TempDir dir;
  const Location where{dir.path(), "", "PROJECT_STATE.md"};
  {
    auto made = ReportQueue::create(&loop_);
    ASSERT_TRUE(made) << made.error().message;
    ReportQueue& q = **made;
    q.add(where, decision("first"));
    ASSERT_TRUE(run_until(&loop_, [&] { return q.writes() >= 1; }));
    q.add(where, decision("paced"));  // waits for the pacing timer
    q.shutdown();
    ASSERT_TRUE(run_until(&loop_, [&] { return q.writes() >= 2; }));
  }
  EXPECT_NE(read_file(dir.path() + "/PROJECT_STATE.md").find("row paced"), std::string::npos);
}

}  // namespace
}  // namespace medic::report
