// Executor on a real loop, subscribed to a real socket (the daemon's UnixSocketPublisher
// and journal, fed through the outbox as the daemon feeds it), running the stand-in
// `hermes` that refuses what the real CLI refuses (tests/support/hermes_standin.py): a
// decision is applied with the command Hermes takes, and a decision applied before a
// restart is not applied again when it is replayed (even where Hermes would take it again).
#include "act/executor.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/json_writer.h"
#include "integration/process.h"
#include "loop/handles.h"
#include "publish/decision_codec.h"
#include "publish/outbox.h"
#include "support/run_loop.h"

namespace medic::act {
namespace {

using testing::run_until;
using testing::TempDir;

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

class ExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    record_ = tmp_.path() + "/calls.tsv";
    // Two running tasks, each in its first run, as `hermes kanban show --json` reports them.
    tmp_.file("board.json",
              R"({"tasks": {"t_a": {"status": "running", "runs": [{"id": 1, "ended_at": null}], "events": []},)"
              R"( "t_b": {"status": "running", "runs": [{"id": 1, "ended_at": null}], "events": []}}})");
    ::setenv("MEDIC_TEST_STATE", (tmp_.path() + "/board.json").c_str(), 1);
    ::setenv("MEDIC_TEST_RECORD", record_.c_str(), 1);
    auto j = publish::Journal::open(tmp_.path() + "/journal");
    ASSERT_TRUE(j) << j.error().message;
    journal_.emplace(std::move(*j));
    auto timer = loop::make_timer(&loop_, nullptr);
    ASSERT_TRUE(timer);
    outbox_.emplace(*journal_, std::move(*timer));
    auto pub = publish::UnixSocketPublisher::create(&loop_, tmp_.path() + "/s.sock", *journal_, {}, [this] {
      return R"({"type":"hello","version":"test","last_seq":)" + std::to_string(journal_->last_seq()) + "}";
    });
    ASSERT_TRUE(pub) << pub.error().message;
    publisher_ = std::move(*pub);
    outbox_->set_publisher(publisher_.get());
  }
  void TearDown() override {
    executor_.reset();
    outbox_->set_publisher(nullptr);
    publisher_->close();
    publisher_.reset();
    outbox_->stop();
    outbox_.reset();
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
    ::unsetenv("MEDIC_TEST_STATE");
    ::unsetenv("MEDIC_TEST_RECORD");
  }

  void start() {
    ExecutorOptions o;
    o.socket = tmp_.path() + "/s.sock";
    o.hermes = MEDIC_SOURCE_DIR "/tests/support/hermes_standin.py";
    o.state_dir = tmp_.path() + "/act";
    o.since = 0;  // everything the journal holds
    o.plan.dispatch = false;
    o.parallel = 1;  // one task at a time: jobs run in the order their decisions came
    o.workspace_roots = {tmp_.path()};
    auto e = Executor::create(&loop_, o);
    ASSERT_TRUE(e) << e.error().message;
    executor_ = std::move(*e);
    executor_->start();
  }
  // Stops the executor as a signal does, and runs the loop until it says it has stopped.
  void stop() {
    bool stopped = false;
    executor_->stop([&] { stopped = true; });
    ASSERT_TRUE(run_until(&loop_, [&] { return stopped; }));
    executor_->shutdown();
    executor_.reset();
  }
  void publish_block(const std::string& task) {
    decide::Decision d;
    d.id = "b/" + task + "/1";
    d.board = "b";
    d.task_id = task;
    d.run_id = 1;
    d.action = rules::Action::Block;
    d.reason = "the worker's credentials are gone";
    d.decided_at = 1780000000;
    outbox_->publish([d](std::uint64_t seq) { return publish::encode_decision(d, seq); });
  }
  // The calls that change a task (every `show` left out).
  std::vector<std::string> changes() {
    std::vector<std::string> out;
    for (const auto& l : lines_of(record_)) {
      if (l.find("\tshow\t") == std::string::npos) out.push_back(l);
    }
    return out;
  }
  std::size_t count_with(const std::string& needle) {
    std::size_t n = 0;
    for (const auto& l : changes()) n += l.find(needle) != std::string::npos ? 1 : 0;
    return n;
  }

  uv_loop_t loop_{};
  TempDir tmp_;
  std::string record_;
  std::optional<publish::Journal> journal_;
  std::optional<publish::Outbox> outbox_;
  std::unique_ptr<publish::UnixSocketPublisher> publisher_;
  std::unique_ptr<Executor> executor_;
};

TEST_F(ExecutorTest, ADecisionAppliedBeforeARestartIsNotAppliedAgainWhenReplayed) {
  start();
  publish_block("t_a");
  ASSERT_TRUE(run_until(&loop_, [&] { return count_with("block") == 1; })) << testing::read_file(record_);
  const std::string first = changes().at(0);
  EXPECT_NE(first.find("block"), std::string::npos) << first;
  EXPECT_NE(first.find("t_a"), std::string::npos) << first;
  stop();
  struct stat st {};
  ASSERT_EQ(::stat((tmp_.path() + "/act/act.json").c_str(), &st), 0) << "the stop wrote no act.json";

  // A person unblocks t_a (its credentials fixed): a replay of the old block must not
  // block it again.
  tmp_.file("board.json",
            R"({"tasks": {"t_a": {"status": "ready", "runs": [{"id": 1, "ended_at": 1780000001}], "events": []},)"
            R"( "t_b": {"status": "running", "runs": [{"id": 1, "ended_at": null}], "events": []}}})");
  // The restart replays the journal from seq 0; a decision published after it comes after
  // the replay on the same connection, and one task at a time runs its jobs in that order:
  // once it is applied, the replay has been handled.
  start();
  publish_block("t_b");
  ASSERT_TRUE(run_until(&loop_, [&] { return count_with("t_b") == 1; })) << testing::read_file(record_);
  EXPECT_EQ(count_with("t_a"), 1u) << "t_a's block ran again after the restart:\n" << testing::read_file(record_);
  stop();
  for (const auto& rc : lines_of(record_ + ".rc")) EXPECT_EQ(rc, "0") << "a command the real CLI refuses ran";
}

}  // namespace
}  // namespace medic::act
