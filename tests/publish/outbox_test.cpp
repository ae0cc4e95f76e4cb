// Outbox on a real loop and a real journal: messages are journaled in order with their
// seqs; one the journal cannot take waits, with every later one, and goes out in order
// once the journal takes lines again (the write failure is real: RLIMIT_FSIZE makes the
// kernel refuse the segment's growth with EFBIG, as a full disk refuses it with ENOSPC).
#include "publish/outbox.h"

#include <signal.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <optional>
#include <vector>

#include "integration/process.h"
#include "loop/handles.h"
#include "support/run_loop.h"

namespace medic::publish {
namespace {

using testing::run_until;

Outbox::Render message(const std::string& id) {
  return [id](std::uint64_t seq) {
    return "{\"type\":\"decision\",\"seq\":" + std::to_string(seq) + ",\"id\":\"" + id + "\",\"action\":\"retry\"}";
  };
}

class OutboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    auto j = Journal::open(tmp_.path() + "/journal");
    ASSERT_TRUE(j) << j.error().message;
    journal_.emplace(std::move(*j));
    auto timer = loop::make_timer(&loop_, nullptr);
    ASSERT_TRUE(timer);
    outbox_.emplace(*journal_, std::move(*timer));
  }
  void TearDown() override {
    outbox_->stop();
    outbox_.reset();
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  std::vector<std::string> journaled() {
    std::vector<std::string> out;
    EXPECT_TRUE(journal_->read(0, 1 << 20, [&](std::string_view l) { out.emplace_back(l); }));
    return out;
  }

  uv_loop_t loop_{};
  testing::TempDir tmp_;
  std::optional<Journal> journal_;
  std::optional<Outbox> outbox_;
};

TEST_F(OutboxTest, MessagesAreJournaledInOrderWithTheirSeqs) {
  for (const char* id : {"b/t_1/1", "b/t_2/1", "b/t_3/1"}) outbox_->publish(message(id));
  EXPECT_EQ(outbox_->waiting(), 0u);
  const auto lines = journaled();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("\"seq\":1,\"id\":\"b/t_1/1\""), std::string::npos) << lines[0];
  EXPECT_NE(lines[2].find("\"seq\":3,\"id\":\"b/t_3/1\""), std::string::npos) << lines[2];
}

TEST_F(OutboxTest, AMessageTheJournalCannotTakeWaitsAndGoesOutInOrderLater) {
  outbox_->publish(message("b/t_1/1"));
  // The segment may not grow: every append fails with EFBIG (SIGXFSZ ignored).
  struct sigaction ignore {
  }, old_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &old_action), 0);
  struct rlimit old_limit {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
  struct rlimit tight = old_limit;
  tight.rlim_cur = 0;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tight), 0);
  outbox_->publish(message("b/t_2/1"));
  outbox_->publish(message("b/t_3/1"));
  const std::uint64_t failures = outbox_->journal_failures();
  const std::size_t waiting = outbox_->waiting();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
  ASSERT_EQ(::sigaction(SIGXFSZ, &old_action, nullptr), 0);
  EXPECT_EQ(waiting, 2u) << "a later message overtook the one that waits";
  EXPECT_GE(failures, 1u);
  EXPECT_EQ(journal_->last_seq(), 1u);
  // The retry (each second) journals both, in order, with the next seqs.
  ASSERT_TRUE(run_until(&loop_, [&] { return outbox_->waiting() == 0; }));
  const auto lines = journaled();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[1].find("\"seq\":2,\"id\":\"b/t_2/1\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("\"seq\":3,\"id\":\"b/t_3/1\""), std::string::npos) << lines[2];
}

}  // namespace
}  // namespace medic::publish
