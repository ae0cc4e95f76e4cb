// LogFollower on a real loop, real files appended by a real writer and a real compiled rule
// set: hits come out per log in byte order with their task; a log far behind is read in
// budgeted slices over several loop turns; a dead worker's unterminated last line is ended
// by finish(); names that are not live logs of a task are refused or ignored; bytes from
// before the first start are marked as history; saved positions resume a log at the start
// of its unterminated line.
#include "tail/log_follower.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "integration/process.h"
#include "loop/handles.h"
#include "match/test_rules.h"
#include "support/run_loop.h"

namespace medic::tail {
namespace {

using testing::run_until;
using testing::TempDir;

constexpr const char* kRules = R"(
- id: http-429
  class: rate_limit
  priority: 30
  pattern: 'HTTP 429\b'
- id: timed-out
  class: timeout
  pattern: 'timed out'
)";

struct Seen {
  LogFollower::Log log;
  match::Hit hit;
};

class LogFollowerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    db_ = match::testing::compile_yaml(kRules);
    ASSERT_TRUE(db_);
    auto m = match::Matcher::create(*db_);
    ASSERT_TRUE(m);
    matcher_.emplace(std::move(*m));
    logs_fd_ = core::UniqueFd(::open(dir_.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(logs_fd_);
  }
  void TearDown() override {
    followers_.clear();
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }

  LogFollower& make_follower() {
    auto timer = loop::make_timer(&loop_, nullptr);
    EXPECT_TRUE(timer);
    followers_.push_back(std::make_unique<LogFollower>(
        std::move(*timer), *db_, *matcher_,
        LogFollower::Callbacks{[this](const LogFollower::Log& log, std::vector<match::Hit>& hits) {
                                 for (auto& h : hits) seen_.push_back(Seen{log, std::move(h)});
                               },
                               [this](const std::string& key, const std::string&) { refused_keys_.push_back(key); },
                               [] {},
                               [this](const std::string& board) { return board == "b" ? logs_fd_.get() : -1; }}));
    return *followers_.back();
  }

  void append(const std::string& name, const std::string& bytes) {
    std::ofstream out(dir_.path() + "/" + name, std::ios::app | std::ios::binary);
    out << bytes;
  }

  // The parked positions by path, as the checkpoint's side file gets them.
  static std::map<std::string, LogFollower::Saved> parked_of(const LogFollower& f) {
    std::map<std::string, LogFollower::Saved> out;
    f.for_each_parked(
        [&](const std::string&, const std::string& path, const LogFollower::Saved& at) { out.emplace(path, at); });
    return out;
  }

  uv_loop_t loop_{};
  TempDir dir_;
  core::UniqueFd logs_fd_;
  std::unique_ptr<match::PatternDb> db_;
  std::optional<match::Matcher> matcher_;
  std::vector<std::unique_ptr<LogFollower>> followers_;
  std::vector<Seen> seen_;
  std::vector<std::string> refused_keys_;
};

TEST_F(LogFollowerTest, HitsOfALogComeOutInByteOrderWithItsTask) {
  LogFollower& f = make_follower();
  f.end_startup();
  append("t_a.log", "starting\nHTTP 429 from the provider\nok\nrequest timed out\n");
  f.on_change("b", dir_.path(), "t_a.log");
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[0].log.task_id, "t_a");
  EXPECT_EQ(seen_[0].log.board, "b");
  EXPECT_EQ(seen_[0].log.history_end, 0u);
  EXPECT_EQ(seen_[0].hit.text, "HTTP 429 from the provider");
  EXPECT_EQ(seen_[1].hit.text, "request timed out");
  EXPECT_LT(seen_[0].hit.offset, seen_[1].hit.offset);
  EXPECT_TRUE(f.take_dirty());
}

TEST_F(LogFollowerTest, ALogFarBehindIsReadInBudgetedSlicesOverLoopTurns) {
  LogFollower& f = make_follower();
  f.end_startup();
  const std::string filler(99, 'x');
  std::string big;
  while (big.size() < 3 * LogFollower::kReadBudget) big += filler + "\n";
  append("t_big.log", big + "HTTP 429 at the end\n");
  f.on_change("b", dir_.path(), "t_big.log");
  EXPECT_TRUE(seen_.empty()) << "one call read past its budget";
  ASSERT_TRUE(run_until(&loop_, [&] { return !seen_.empty(); }));
  EXPECT_EQ(seen_[0].hit.text, "HTTP 429 at the end");
  EXPECT_EQ(seen_[0].hit.offset, big.size());
}

TEST_F(LogFollowerTest, FinishEndsADeadWorkersUnterminatedLastLine) {
  LogFollower& f = make_follower();
  f.end_startup();
  append("t_a.log", "working\nHTTP 429 and then the worker died");
  f.on_change("b", dir_.path(), "t_a.log");
  EXPECT_TRUE(seen_.empty()) << "a line without its newline may still grow";
  f.finish("b", dir_.path(), "t_a");
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].hit.text, "HTTP 429 and then the worker died");
  // The next run's bytes start a line of their own.
  append("t_a.log", "request timed out\n");
  f.on_change("b", dir_.path(), "t_a.log", false);
  ASSERT_EQ(seen_.size(), 2u);
  EXPECT_EQ(seen_[1].hit.text, "request timed out");
}

TEST_F(LogFollowerTest, NamesThatAreNotLiveLogsOfATaskAreNotRead) {
  LogFollower& f = make_follower();
  f.end_startup();
  for (const char* name : {"notes.log", "t_a.log.1", "t_a.txt", "-rf.log"}) {
    append(name, "HTTP 429\n");
    f.on_change("b", dir_.path(), name);
  }
  f.on_change("elsewhere", dir_.path(), "t_a.log");  // a board with no logs dir now
  EXPECT_TRUE(seen_.empty());
  EXPECT_EQ(f.size(), 0u);
  // A bad task id is said once (key per path); a rotated or non-.log name is just skipped.
  ASSERT_EQ(refused_keys_.size(), 2u);
  EXPECT_EQ(refused_keys_[0], "log:" + dir_.path() + "/notes.log");
  EXPECT_EQ(refused_keys_[1], "log:" + dir_.path() + "/-rf.log");
}

TEST_F(LogFollowerTest, BytesFromBeforeTheFirstStartAreMarkedAsHistory) {
  append("t_a.log", "HTTP 429 long ago\n");
  LogFollower& f = make_follower();
  f.on_change("b", dir_.path(), "t_a.log");  // still starting: the boards' first scan
  f.end_startup();
  append("t_a.log", "request timed out\n");
  f.on_change("b", dir_.path(), "t_a.log", false);
  ASSERT_EQ(seen_.size(), 2u);
  const std::uint64_t history_end = std::string("HTTP 429 long ago\n").size();
  EXPECT_EQ(seen_[0].log.history_end, history_end);
  EXPECT_LT(seen_[0].hit.offset, history_end);
  EXPECT_GE(seen_[1].hit.offset, history_end);
}

TEST_F(LogFollowerTest, SavedPositionsResumeAtTheUnterminatedLinesStart) {
  LogFollower& first = make_follower();
  first.end_startup();
  append("t_a.log", "line one\nHTTP 4");
  first.on_change("b", dir_.path(), "t_a.log");
  const auto positions = first.positions();
  ASSERT_EQ(positions.size(), 1u);
  const auto& at = positions.begin()->second;
  EXPECT_EQ(positions.begin()->first, dir_.path() + "/t_a.log");
  EXPECT_EQ(at.offset, 9u) << "not the start of the unterminated line";
  EXPECT_EQ(at.line, 2u);
  // A restart: the next follower takes the positions and reads the whole line once.
  LogFollower& second = make_follower();
  second.resume_from(positions);
  second.end_startup();
  append("t_a.log", "29 after the restart\n");
  second.on_change("b", dir_.path(), "t_a.log");
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].hit.text, "HTTP 429 after the restart");
  EXPECT_EQ(seen_[0].hit.line, 2u);
  EXPECT_EQ(seen_[0].hit.offset, 9u);
}

// A log idle for a whole period whose task is at rest is closed and kept as its position;
// its next bytes reopen it there, with its line count, as if it had stayed open.
TEST_F(LogFollowerTest, AnIdleLogAtRestIsParkedAndItsNextBytesAreReadFromWhereItStood) {
  LogFollower& f = make_follower();
  f.end_startup();
  append("t_a.log", "request timed out\nline two\n");  // 27 bytes
  append("t_live.log", "working\n");
  append("t_part.log", "half a line");
  f.on_change("b", dir_.path(), "t_a.log");
  f.on_change("b", dir_.path(), "t_live.log");
  f.on_change("b", dir_.path(), "t_part.log");
  const auto at_rest = [](const LogFollower::Log& log) { return log.task_id != "t_live"; };
  EXPECT_EQ(f.park_idle(at_rest), 0u) << "read in this period: not idle yet";
  EXPECT_EQ(f.park_idle(at_rest), 1u) << "t_a only: t_live's run goes on, t_part ends mid-line";
  EXPECT_EQ(f.size(), 2u);
  EXPECT_EQ(f.parked(), 1u);
  // The checkpoint's side file holds where the parked log stands; the open logs' part no
  // longer does.
  EXPECT_EQ(f.positions().count(dir_.path() + "/t_a.log"), 0u);
  const auto parked = parked_of(f);
  ASSERT_EQ(parked.count(dir_.path() + "/t_a.log"), 1u);
  EXPECT_EQ(parked.at(dir_.path() + "/t_a.log").offset, 27u);
  const std::uint64_t version = f.parked_version();
  // The next run writes: reopened at offset 27, line 3, nothing read twice.
  ASSERT_EQ(seen_.size(), 1u);
  append("t_a.log", "HTTP 429 in the next run\n");
  f.on_change("b", dir_.path(), "t_a.log", false);
  ASSERT_EQ(seen_.size(), 2u) << "the first run's line was read again";
  EXPECT_EQ(seen_[1].hit.text, "HTTP 429 in the next run");
  EXPECT_EQ(seen_[1].hit.offset, 27u);
  EXPECT_EQ(seen_[1].hit.line, 3u);
  EXPECT_EQ(f.parked(), 0u);
  EXPECT_EQ(f.size(), 3u);
  EXPECT_NE(f.parked_version(), version) << "reopening a parked log changes what the side file holds";
}

// A parked log that is truncated and rewritten is read from its start; one deleted (Hermes's
// gc) is forgotten, so the checkpoint does not keep it.
TEST_F(LogFollowerTest, AParkedLogRewrittenIsReadAfreshAndOneDeletedIsForgotten) {
  LogFollower& f = make_follower();
  f.end_startup();
  append("t_a.log", "an old run that wrote a long first line\n");
  append("t_gone.log", "old\n");
  f.on_change("b", dir_.path(), "t_a.log");
  f.on_change("b", dir_.path(), "t_gone.log");
  const auto all = [](const LogFollower::Log&) { return true; };
  f.park_idle(all);
  ASSERT_EQ(f.park_idle(all), 2u);
  {
    std::ofstream out(dir_.path() + "/t_a.log", std::ios::trunc);
    out << "request timed out, and then more bytes than before\n";
  }
  f.on_change("b", dir_.path(), "t_a.log", false);
  ASSERT_EQ(seen_.size(), 1u);
  EXPECT_EQ(seen_[0].hit.offset, 0u) << "the saved fingerprint no longer matches: read from 0";
  ASSERT_EQ(::unlink((dir_.path() + "/t_gone.log").c_str()), 0);
  f.on_change("b", dir_.path(), "t_gone.log");
  EXPECT_EQ(f.parked(), 0u);
  EXPECT_EQ(parked_of(f).count(dir_.path() + "/t_gone.log"), 0u);
}

// Rotation while parked: bytes written just before the rename (no event read for them yet)
// and the rename itself, then the new file. The old file is finished from the parked
// offset through "<name>.1", then the new one is read from 0; nothing is read twice.
TEST_F(LogFollowerTest, AParkedLogRotatedIsFinishedThroughItsRenamedFileThenTheNewOneIsRead) {
  LogFollower& f = make_follower();
  f.end_startup();
  append("t_a.log", "HTTP 429 in the first run\n");
  f.on_change("b", dir_.path(), "t_a.log");
  ASSERT_EQ(seen_.size(), 1u);
  const auto all = [](const LogFollower::Log&) { return true; };
  f.park_idle(all);
  ASSERT_EQ(f.park_idle(all), 1u);
  append("t_a.log", "request timed out just before the rotation\n");
  ASSERT_EQ(::rename((dir_.path() + "/t_a.log").c_str(), (dir_.path() + "/t_a.log.1").c_str()), 0);
  f.on_change("b", dir_.path(), "t_a.log");  // the rename: nothing at the name now
  EXPECT_EQ(f.parked(), 1u) << "a rotated parked log was taken for deleted";
  append("t_a.log", "HTTP 429 in the new file\n");
  f.on_change("b", dir_.path(), "t_a.log");
  ASSERT_EQ(seen_.size(), 3u) << "the first run was read again, or the late bytes were lost";
  EXPECT_EQ(seen_[1].hit.text, "request timed out just before the rotation");
  EXPECT_EQ(seen_[2].hit.text, "HTTP 429 in the new file");
  EXPECT_EQ(seen_[2].hit.offset, 0u);
}

// A rescan looks at every name: a parked log that has not changed stays parked (no
// descriptor, no stream opened for it).
TEST_F(LogFollowerTest, ARescanLeavesAnUnchangedParkedLogParked) {
  LogFollower& f = make_follower();
  f.end_startup();
  append("t_a.log", "line one\n");
  f.on_change("b", dir_.path(), "t_a.log");
  const auto all = [](const LogFollower::Log&) { return true; };
  f.park_idle(all);
  ASSERT_EQ(f.park_idle(all), 1u);
  f.on_change("b", dir_.path(), "t_a.log");
  EXPECT_EQ(f.parked(), 1u);
  EXPECT_EQ(f.size(), 0u);
}

// A log rotated while open (Hermes rotates at spawn above 2 MiB) holds the renamed file for
// late bytes, which raise no event of the live name: parking reads them, lets the old
// file go, and parks the log.
TEST_F(LogFollowerTest, ARotatedLogReadsItsOldFilesLateBytesAndParks) {
  LogFollower& f = make_follower();
  f.end_startup();
  append("t_a.log", "first run\n");
  f.on_change("b", dir_.path(), "t_a.log");
  ASSERT_EQ(::rename((dir_.path() + "/t_a.log").c_str(), (dir_.path() + "/t_a.log.1").c_str()), 0);
  append("t_a.log", "second run\n");
  f.on_change("b", dir_.path(), "t_a.log");
  append("t_a.log.1", "request timed out, late in the first run\n");  // no event for the live name
  const auto all = [](const LogFollower::Log&) { return true; };
  f.park_idle(all);
  EXPECT_EQ(f.park_idle(all), 1u) << "a log holding its rotated file never parks";
  ASSERT_EQ(seen_.size(), 1u) << "the old file's late bytes were not read before it was let go";
  EXPECT_EQ(seen_[0].hit.text, "request timed out, late in the first run");
}

// A restart: parked positions come back parked. The first scan leaves an unchanged log
// parked (no descriptor), reopens a grown one where it stood, and a log deleted while
// medic was down is dropped once the scan is over.
TEST_F(LogFollowerTest, RestoredParkedLogsStayParkedUnlessTheyGrewOrWentAway) {
  LogFollower& first = make_follower();
  first.end_startup();
  append("t_same.log", "request timed out\n");
  append("t_grew.log", "request timed out\n");
  append("t_gone.log", "request timed out\n");
  for (const char* n : {"t_same.log", "t_grew.log", "t_gone.log"}) first.on_change("b", dir_.path(), n);
  const auto all = [](const LogFollower::Log&) { return true; };
  first.park_idle(all);
  ASSERT_EQ(first.park_idle(all), 3u);
  std::vector<std::pair<std::string, LogFollower::Saved>> saved;
  first.for_each_parked([&](const std::string& board, const std::string& path, const LogFollower::Saved& at) {
    EXPECT_EQ(board, "b");
    saved.emplace_back(path, at);
  });
  ASSERT_EQ(saved.size(), 3u);
  seen_.clear();
  // Down: one log grows, one is deleted.
  append("t_grew.log", "HTTP 429 while medic was down\n");
  ASSERT_EQ(::unlink((dir_.path() + "/t_gone.log").c_str()), 0);
  LogFollower& second = make_follower();
  for (const auto& [path, at] : saved) second.restore_parked("b", path, at);
  for (const char* n : {"t_same.log", "t_grew.log"}) second.on_change("b", dir_.path(), n);  // the first scan
  second.end_startup();
  EXPECT_EQ(second.size(), 1u) << "only the grown log is open";
  EXPECT_EQ(second.parked(), 1u) << "the unchanged one stays parked, the deleted one is dropped";
  ASSERT_EQ(seen_.size(), 1u) << "read from the parked offset, not as history from 0";
  EXPECT_EQ(seen_[0].hit.text, "HTTP 429 while medic was down");
  EXPECT_EQ(seen_[0].log.history_end, 0u);
}

}  // namespace
}  // namespace medic::tail
