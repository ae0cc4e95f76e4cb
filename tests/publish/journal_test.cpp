#include "publish/journal.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "integration/process.h"

namespace medic::publish {
namespace {

namespace fs = std::filesystem;

std::string msg(std::uint64_t seq, const std::string& id = "") {
  return "{\"type\":\"decision\",\"seq\":" + std::to_string(seq) + ",\"id\":\"" +
         (id.empty() ? "b/t_" + std::to_string(seq) + "/1" : id) + "\",\"action\":\"retry\"}";
}

std::vector<std::string> read_all(const Journal& j, std::uint64_t since, std::size_t max = 1 << 30) {
  std::vector<std::string> out;
  auto r = j.read(since, max, [&](std::string_view l) { out.emplace_back(l); });
  EXPECT_TRUE(r);
  return out;
}

class JournalTest : public ::testing::Test {
 protected:
  std::string dir() const { return tmp_.path() + "/journal"; }
  Journal make(JournalOptions o = {}) {
    auto j = Journal::open(dir(), o);
    EXPECT_TRUE(j) << j.error().message;
    return std::move(*j);
  }
  testing::TempDir tmp_;
};

TEST_F(JournalTest, AppendsGapFreeSeqsAndReplaysFromAnyOfThem) {
  {
    Journal j = make();
    for (int i = 0; i < 300; ++i) ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
    EXPECT_EQ(j.last_seq(), 300u);
  }
  std::vector<std::string> decided;
  auto reopened = Journal::open(dir(), {}, {}, [&](std::string_view id, std::string_view action) {
    EXPECT_EQ(action, "retry");
    decided.emplace_back(id);
  });
  ASSERT_TRUE(reopened) << reopened.error().message;
  Journal j = std::move(*reopened);
  EXPECT_EQ(j.last_seq(), 300u);
  ASSERT_EQ(decided.size(), 300u) << "open hands over every decided id, in seq order";
  EXPECT_EQ(decided.front(), "b/t_1/1");
  EXPECT_EQ(decided.back(), "b/t_300/1");
  const auto tail = read_all(j, 250);
  ASSERT_EQ(tail.size(), 50u);
  EXPECT_EQ(tail.front(), msg(251));
  EXPECT_EQ(read_all(j, 0).size(), 300u);
  EXPECT_TRUE(read_all(j, 300).empty());
}

// The checkpoint syncs the journal on the threadpool: it is handed a descriptor of the
// newest segment only when lines were appended since the last sync.
TEST_F(JournalTest, TakeSyncHandsTheNewestSegmentOnlyWhenLinesWereAppended) {
  Journal j = make();
  EXPECT_FALSE(j.take_sync()) << "nothing appended yet";
  ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  core::UniqueFd fd = j.take_sync();
  ASSERT_TRUE(fd);
  struct stat st {};
  ASSERT_EQ(::fstat(fd.get(), &st), 0);
  const std::string newest = dir() + "/" + std::string(20 - 1, '0') + "1.ndjson";
  struct stat want {};
  ASSERT_EQ(::stat(newest.c_str(), &want), 0) << newest;
  EXPECT_EQ(st.st_ino, want.st_ino);
  EXPECT_EQ(::fdatasync(fd.get()), 0);
  EXPECT_FALSE(j.take_sync()) << "synced since";
  ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  EXPECT_TRUE(j.take_sync());
  // The checkpoint writer could not sync what it was handed: it is handed over again.
  EXPECT_FALSE(j.take_sync());
  j.mark_unsynced();
  EXPECT_TRUE(j.take_sync()) << "a failed off-loop sync was forgotten";
}

// A sync the kernel refuses is said, not dropped: the caller writes no checkpoint naming
// lines that may not be on disk. (A segment that is /dev/null takes writes but refuses
// fdatasync with EINVAL, as a failing disk would with EIO.)
TEST_F(JournalTest, ASyncTheKernelRefusesFailsAndAFinishedSegmentThatCannotBeSyncedStartsNoOther) {
  fs::create_directories(dir());
  const std::string first = dir() + "/" + std::string(20 - 1, '0') + "1.ndjson";
  ASSERT_EQ(::symlink("/dev/null", first.c_str()), 0);
  JournalOptions o;
  o.segment_bytes = 50;  // one line fills it
  Journal j = make(o);
  EXPECT_TRUE(j.sync()) << "nothing appended: nothing to sync";
  ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  auto synced = j.sync();
  ASSERT_FALSE(synced);
  EXPECT_NE(synced.error().message.find(first + ": fdatasync: "), std::string::npos) << synced.error().message;
  // The segment is full: the next line needs a new one, which does not start.
  auto next = j.append([](std::uint64_t s) { return msg(s); });
  ASSERT_FALSE(next);
  EXPECT_NE(next.error().message.find("fdatasync"), std::string::npos) << next.error().message;
  EXPECT_EQ(j.last_seq(), 1u) << "the refused line got no seq";
  EXPECT_FALSE(fs::exists(dir() + "/" + std::string(20 - 1, '0') + "2.ndjson"));
}

TEST_F(JournalTest, AReadStopsAtItsByteBudgetAndSaysWhere) {
  Journal j = make();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  std::vector<std::string> got;
  auto r = j.read(0, msg(1).size() * 3, [&](std::string_view l) { got.emplace_back(l); });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 3u);
  EXPECT_EQ(got.size(), 3u);
}

TEST_F(JournalTest, ATornLastLineIsCutKeptAsideAndTheSeqGoesOn) {
  {
    Journal j = make();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  }
  const std::string seg = dir() + "/00000000000000000001.ndjson";
  std::ofstream(seg, std::ios::app) << "{\"type\":\"decision\",\"seq\":6,\"id\":\"b/t_6";  // a full disk
  Journal j = make();
  ASSERT_EQ(j.recovered().size(), 1u);
  EXPECT_EQ(j.recovered()[0].why, "a torn last line (no newline)");
  EXPECT_EQ(testing::read_file(j.recovered()[0].kept_at), "{\"type\":\"decision\",\"seq\":6,\"id\":\"b/t_6");
  EXPECT_EQ(j.last_seq(), 5u);
  ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  EXPECT_EQ(read_all(j, 0).back(), msg(6));
}

TEST_F(JournalTest, AGarbageLineEndsTheSegmentThere) {
  {
    Journal j = make();
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  }
  const std::string seg = dir() + "/00000000000000000001.ndjson";
  std::ofstream(seg, std::ios::app) << "\x01garbage\n" << msg(5) << "\n";
  Journal j = make();
  ASSERT_EQ(j.recovered().size(), 1u);
  EXPECT_EQ(j.last_seq(), 3u);
  EXPECT_EQ(j.recovered()[0].bytes, 9u + msg(5).size() + 1);
}

TEST_F(JournalTest, SegmentsRollOverAndRetentionDropsTheOldest) {
  JournalOptions o;
  o.segment_bytes = 1000;
  o.retain_bytes = 3000;
  Journal j = make(o);
  for (int i = 0; i < 200; ++i) ASSERT_TRUE(j.append([](std::uint64_t s) { return msg(s); }));
  EXPECT_GT(j.segments_dropped(), 0u);
  EXPECT_GT(j.first_seq(), 1u);
  EXPECT_EQ(j.last_seq(), 200u);
  auto gone = j.read(0, 1 << 20, [](std::string_view) {});
  ASSERT_FALSE(gone);
  EXPECT_NE(gone.error().message.find("the oldest kept is " + std::to_string(j.first_seq())), std::string::npos);
  const auto kept = read_all(j, j.first_seq() - 1);
  EXPECT_EQ(kept.size(), 200u - j.first_seq() + 1);
  EXPECT_EQ(kept.back(), msg(200));
  // Reopened, the segments read back the same.
  Journal again = make(o);
  EXPECT_EQ(again.first_seq(), j.first_seq());
  EXPECT_EQ(again.last_seq(), 200u);
}

TEST_F(JournalTest, AnOlderSingleFileJournalBecomesTheFirstSegment) {
  const std::string legacy = tmp_.path() + "/journal.ndjson";
  {
    std::ofstream f(legacy);
    for (int s = 1; s <= 4; ++s) f << msg(s) << "\n";
  }
  std::vector<std::string> decided;
  auto j = Journal::open(dir(), {}, legacy, [&](std::string_view id, std::string_view) { decided.emplace_back(id); });
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->last_seq(), 4u);
  EXPECT_FALSE(fs::exists(legacy));
  EXPECT_EQ(decided, (std::vector<std::string>{"b/t_1/1", "b/t_2/1", "b/t_3/1", "b/t_4/1"}));
}

// A segment larger than the scan's 8 MiB chunk, with lines that straddle chunk ends: read
// whole, indexed (a replay from any seq starts at the right line) and every id handed over.
TEST_F(JournalTest, ASegmentLargerThanTheScanChunkIsReadWhole) {
  const std::string pad(997, 'x');  // a line length prime to the chunk size
  auto line = [&](std::uint64_t seq) {
    return "{\"type\":\"decision\",\"seq\":" + std::to_string(seq) + ",\"id\":\"b/t_" + std::to_string(seq) +
           "/1\",\"action\":\"retry\",\"reason\":\"" + pad + "\"}";
  };
  constexpr std::uint64_t kLines = 20000;                      // about 20 MB
  const std::string torn = "{\"type\":\"decision\",\"seq\":";  // cut and kept aside
  fs::create_directories(dir());
  {
    std::ofstream f(dir() + "/00000000000000000001.ndjson");
    for (std::uint64_t s = 1; s <= kLines; ++s) f << line(s) << "\n";
    f << torn;
  }
  std::uint64_t ids = 0;
  std::string last;
  auto j = Journal::open(dir(), {}, {}, [&](std::string_view id, std::string_view) {
    ++ids;
    last = std::string(id);
  });
  ASSERT_TRUE(j) << j.error().message;
  EXPECT_EQ(j->last_seq(), kLines);
  EXPECT_EQ(ids, kLines);
  EXPECT_EQ(last, "b/t_20000/1");
  ASSERT_EQ(j->recovered().size(), 1u);
  EXPECT_EQ(j->recovered()[0].bytes, torn.size());
  for (std::uint64_t since : {0ull, 8191ull, 8400ull, 19999ull}) {
    std::vector<std::string> got;
    auto r = j->read(since, 3 * line(1).size(), [&](std::string_view l) { got.emplace_back(l); });
    ASSERT_TRUE(r);
    ASSERT_FALSE(got.empty()) << since;
    EXPECT_EQ(got.front(), line(since + 1)) << since;
  }
}

}  // namespace
}  // namespace medic::publish
