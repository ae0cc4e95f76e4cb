// The checkpoint: encode/parse round-trip, damaged entries counted, and CheckpointWriter on
// a real loop and threadpool: a burst of saves writes at most twice and leaves the newest
// state; the stop's save_now lands after the write in flight; load() tells a missing
// checkpoint from a damaged one.
#include "state/checkpoint_writer.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "integration/process.h"
#include "support/run_loop.h"

namespace medic::state {
namespace {

using testing::read_file;
using testing::run_until;
using testing::TempDir;

Checkpoint sample(std::int64_t cursor) {
  Checkpoint cp;
  cp.cursors["default"] = cursor;
  cp.files.push_back(FileState{"/h/kanban/logs/t_a.log", 2049, 77, 4096, 12, 0xabcdef, "proj"});
  cp.unhealthy_until["openai-codex"] = 1780861905;
  cp.attempts["default/t_a"] = {1780000000, 1780000300};
  RunState r;
  r.key = "default/t_a";
  r.run_id = 3;
  r.started_at = 1780000000;
  r.provider = "openai-codex";
  r.live = false;
  r.finished = true;
  cp.runs.push_back(r);
  return cp;
}

TEST(CheckpointTest, WhatIsEncodedParsesBackTheSame) {
  auto parsed = parse(encode(sample(42)));
  ASSERT_TRUE(parsed) << parsed.error().message;
  const Checkpoint& cp = parsed->checkpoint;
  EXPECT_EQ(parsed->bad_entries, 0u);
  EXPECT_EQ(cp.cursors.at("default"), 42);
  ASSERT_EQ(cp.files.size(), 1u);
  EXPECT_EQ(cp.files[0].path, "/h/kanban/logs/t_a.log");
  EXPECT_EQ(cp.files[0].ino, 77u);
  EXPECT_EQ(cp.files[0].offset, 4096u);
  EXPECT_EQ(cp.files[0].line, 12u);
  EXPECT_EQ(cp.files[0].fingerprint, 0xabcdefu);
  EXPECT_EQ(cp.files[0].board, "proj");
  EXPECT_EQ(cp.unhealthy_until.at("openai-codex"), 1780861905);
  EXPECT_EQ(cp.attempts.at("default/t_a").size(), 2u);
  ASSERT_EQ(cp.runs.size(), 1u);
  EXPECT_EQ(cp.runs[0].run_id, 3);
  EXPECT_EQ(cp.runs[0].provider, "openai-codex");
  EXPECT_FALSE(cp.runs[0].live);
  EXPECT_TRUE(cp.runs[0].finished);
  // A run of an older checkpoint (no flags) is taken as still going.
  auto older = parse(R"({"runs":[{"key":"default/t_a","run_id":3,"evidence":[]}]})");
  ASSERT_TRUE(older) << older.error().message;
  ASSERT_EQ(older->checkpoint.runs.size(), 1u);
  EXPECT_TRUE(older->checkpoint.runs[0].live);
  EXPECT_FALSE(older->checkpoint.runs[0].finished);
}

class CheckpointWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    uv_loop_init(&loop_);
    path_ = dir_.path() + "/state.json";
  }
  void TearDown() override {
    if (journal_fd_ >= 0) ::close(journal_fd_);
    while (uv_run(&loop_, UV_RUN_NOWAIT) != 0) {
    }
    EXPECT_EQ(uv_loop_close(&loop_), 0) << "a handle was left open";
  }
  CheckpointWriter make() {
    return CheckpointWriter(
        &loop_, path_,
        CheckpointWriter::Callbacks{[this] {
                                      ++snapshots_;
                                      return sample(cursor_);
                                    },
                                    [this] { return core::UniqueFd(journal_fd_ >= 0 ? ::dup(journal_fd_) : -1); },
                                    [this](bool again) -> std::optional<Checkpoint> {
                                      side_agains_ += again ? 1 : 0;
                                      if (!again && side_version_ == side_handed_) return std::nullopt;
                                      side_handed_ = side_version_;
                                      Checkpoint cp;
                                      cp.cursors["side"] = side_version_;
                                      return cp;
                                    },
                                    [this] { ++journal_unsynced_; }},
        side_path_);
  }
  std::int64_t side_version_on_disk() {
    auto loaded = load(side_path_);
    if (!loaded || !*loaded) return -1;
    return (*loaded)->checkpoint.cursors.at("side");
  }
  std::int64_t saved_cursor() {
    auto loaded = load(path_);
    if (!loaded || !*loaded) return -1;
    return (*loaded)->checkpoint.cursors.at("default");
  }

  uv_loop_t loop_{};
  TempDir dir_;
  std::string path_;
  std::int64_t cursor_ = 0;
  int snapshots_ = 0;
  int journal_fd_ = -1;  // handed to the writer (as a duplicate) to fdatasync first; -1: none
  std::string side_path_ = dir_.path() + "/side.json";
  std::int64_t side_version_ = 1;  // the side file's content changes when this does
  std::int64_t side_handed_ = 0;
  int side_agains_ = 0;
  int journal_unsynced_ = 0;
};

// The side file (the parked logs' positions) is written with the checkpoint only when it
// changed; a failed write of it is handed over whole again at the next save.
TEST_F(CheckpointWriterTest, TheSideFileIsWrittenOnlyWhenItChangedAndAgainAfterAFailure) {
  CheckpointWriter w = make();
  w.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !w.busy(); }));
  EXPECT_EQ(side_version_on_disk(), 1);
  struct stat first {};
  ASSERT_EQ(::stat(side_path_.c_str(), &first), 0);
  cursor_ = 2;
  w.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !w.busy(); }));
  EXPECT_EQ(saved_cursor(), 2);
  struct stat second {};
  ASSERT_EQ(::stat(side_path_.c_str(), &second), 0);
  EXPECT_EQ(second.st_ino, first.st_ino) << "an unchanged side file was written again (a new inode)";
  // A change whose write fails (its directory is gone) is handed over again, whole.
  side_path_ = dir_.path() + "/gone/side.json";
  CheckpointWriter broken = make();
  side_version_ = 2;
  cursor_ = 3;
  broken.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !broken.busy(); }));
  EXPECT_EQ(broken.errors(), 1u);
  EXPECT_TRUE(broken.failed_last()) << "the caller is not told to save again";
  EXPECT_EQ(saved_cursor(), 2) << "state.json was written although the side file was not";
  std::filesystem::create_directories(dir_.path() + "/gone");
  broken.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !broken.busy(); }));
  EXPECT_EQ(side_agains_, 1);
  EXPECT_EQ(side_version_on_disk(), 2) << "the failed side write was not retried";
  EXPECT_EQ(saved_cursor(), 3);
  EXPECT_FALSE(broken.failed_last());
}

TEST_F(CheckpointWriterTest, ABurstOfSavesWritesAtMostTwiceAndLeavesTheNewestState) {
  CheckpointWriter w = make();
  for (cursor_ = 1; cursor_ <= 50; ++cursor_) w.save();
  cursor_ = 50;
  EXPECT_TRUE(w.busy());
  ASSERT_TRUE(run_until(&loop_, [&] { return !w.busy(); }));
  EXPECT_EQ(w.writes(), 2u) << "one write in flight, one more for everything asked meanwhile";
  EXPECT_EQ(snapshots_, 2);
  EXPECT_EQ(w.errors(), 0u);
  EXPECT_EQ(saved_cursor(), 50);
}

TEST_F(CheckpointWriterTest, TheStopsSaveLandsAfterTheWriteInFlight) {
  CheckpointWriter w = make();
  cursor_ = 7;
  w.save();  // in flight, with cursor 7
  cursor_ = 8;
  ASSERT_TRUE(w.save_now());
  EXPECT_FALSE(w.busy());
  EXPECT_EQ(saved_cursor(), 8) << "an older write finished after the stop's";
  EXPECT_EQ(w.writes(), 2u);
}

TEST_F(CheckpointWriterTest, AWriteThatFailsIsCountedAndTheNextSaveTriesAgain) {
  path_ = dir_.path() + "/missing-dir/state.json";
  CheckpointWriter w = make();
  w.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !w.busy(); }));
  EXPECT_EQ(w.errors(), 1u);
  EXPECT_EQ(w.writes(), 0u);
  std::filesystem::create_directories(dir_.path() + "/missing-dir");
  w.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !w.busy(); }));
  EXPECT_EQ(w.writes(), 1u) << "the save after a failed one did not write";
  EXPECT_EQ(saved_cursor(), 0);
}

// The checkpoint says how far the journal is durable: when the journal's fdatasync fails
// (here: a descriptor that cannot be synced, a pipe), no checkpoint is written that the
// journal on disk may be behind. A journal that syncs lets it through.
TEST_F(CheckpointWriterTest, AJournalThatCannotBeSyncedLeavesTheCheckpointUnwritten) {
  int p[2];
  ASSERT_EQ(::pipe(p), 0);
  journal_fd_ = ::dup(p[0]);
  CheckpointWriter w = make();
  w.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !w.busy(); }));
  EXPECT_EQ(w.errors(), 1u);
  EXPECT_EQ(saved_cursor(), -1) << "a checkpoint was written ahead of an unsynced journal";
  EXPECT_EQ(journal_unsynced_, 1) << "the journal was not told its segment is still unsynced";
  ::close(p[0]);
  ::close(p[1]);
  ::close(journal_fd_);
  journal_fd_ = ::open(dir_.file("journal-000001.ndjson", "{}\n").c_str(), O_RDONLY | O_CLOEXEC);
  cursor_ = 3;
  w.save();
  ASSERT_TRUE(run_until(&loop_, [&] { return !w.busy(); }));
  EXPECT_EQ(w.writes(), 1u);
  EXPECT_EQ(saved_cursor(), 3);
}

TEST(CheckpointLoadTest, TellsAMissingCheckpointFromADamagedOne) {
  TempDir dir;
  auto missing = load(dir.path() + "/state.json");
  ASSERT_TRUE(missing) << missing.error().message;
  EXPECT_FALSE(missing->has_value());
  const std::string damaged = dir.file("state.json", "{\"cursors\": [not json");
  EXPECT_FALSE(load(damaged));
  const std::string fine = dir.file("ok.json", encode(sample(5)));
  auto loaded = load(fine);
  ASSERT_TRUE(loaded && *loaded);
  EXPECT_EQ((*loaded)->checkpoint.cursors.at("default"), 5);
}

}  // namespace
}  // namespace medic::state
