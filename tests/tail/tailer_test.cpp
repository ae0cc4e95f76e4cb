#include "tail/tailer.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "core/beneath.h"
#include "integration/process.h"

namespace medic::tail {
namespace {

namespace fs = std::filesystem;

struct Piece {
  std::uint64_t offset;
  std::string bytes;
  bool restarted;
  bool rotated;
};

class TailerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fd = core::open_trusted_dir(dir_.path());
    ASSERT_TRUE(fd);
    dir_fd_ = std::move(*fd);
  }
  std::string path() const { return dir_.path() + "/t_1.log"; }
  void append(const std::string& text, const std::string& file = "t_1.log") {
    std::ofstream(dir_.path() + "/" + file, std::ios::app) << text;
  }
  // Everything read now, as pieces.
  // `replaced` false: what inotify says after a plain write (no lookup of the name).
  std::vector<Piece> read(Tailer& t, std::size_t budget = 8u << 20, bool replaced = true) {
    std::vector<Piece> out;
    t.read_available(
        dir_fd_.get(),
        [&](const FileId&, std::uint64_t off, std::string_view b, bool restarted, bool rotated) {
          out.push_back(Piece{off, std::string(b), restarted, rotated});
        },
        budget, replaced);
    return out;
  }
  static std::string text(const std::vector<Piece>& ps) {
    std::string s;
    for (const auto& p : ps) s += p.bytes;
    return s;
  }
  testing::TempDir dir_;
  core::UniqueFd dir_fd_;
};

TEST_F(TailerTest, ReadsOnlyWhatIsNewFromItsOffset) {
  Tailer t(dir_.path(), "t_1.log");
  append("one\n");
  auto a = read(t);
  ASSERT_EQ(a.size(), 1u);
  EXPECT_TRUE(a[0].restarted);
  append("two\n");
  auto b = read(t);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].offset, 4u);
  EXPECT_EQ(b[0].bytes, "two\n");
  EXPECT_FALSE(b[0].restarted);
  EXPECT_TRUE(read(t).empty());
}

TEST_F(TailerTest, RestartsFromZeroAfterTruncation) {
  Tailer t(dir_.path(), "t_1.log");
  append("a long first line\n");
  read(t);
  fs::resize_file(path(), 0);
  append("x\n");
  auto p = read(t);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_TRUE(p[0].restarted);
  EXPECT_EQ(t.truncations(), 1u);
}

TEST_F(TailerTest, ATruncationRewrittenPastTheOldOffsetIsSeenByItsFingerprint) {
  Tailer t(dir_.path(), "t_1.log");
  append("run one line\n");
  read(t);
  // Truncated and rewritten, longer, before the tailer looked again: size alone says "grown".
  { std::ofstream(path(), std::ios::trunc) << "run two line, and a longer one\n"; }
  auto p = read(t);
  ASSERT_FALSE(p.empty());
  EXPECT_TRUE(p[0].restarted);
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_EQ(text(p), "run two line, and a longer one\n");
}

// After a plain write the name is not looked up again: the open file is read on, a
// truncation is still caught by the fingerprint, and the next Replaced finds the new file.
TEST_F(TailerTest, AWrittenOnlyReadSkipsTheLookupButStillSeesATruncation) {
  Tailer t(dir_.path(), "t_1.log");
  append("first line\n");
  read(t);
  append("second\n");
  EXPECT_EQ(text(read(t, 8u << 20, false)), "second\n");
  { std::ofstream(path(), std::ios::trunc) << "rewritten, and longer than before\n"; }
  auto p = read(t, 8u << 20, false);
  ASSERT_FALSE(p.empty());
  EXPECT_TRUE(p[0].restarted);
  EXPECT_EQ(text(p), "rewritten, and longer than before\n");
  // Renamed away and a new file at the name: a Written read still reads the open (old)
  // file, the Replaced one that inotify sends for the rename finds the new file.
  fs::rename(path(), dir_.path() + "/t_1.log.1");
  append("new file\n");
  EXPECT_TRUE(read(t, 8u << 20, false).empty());
  EXPECT_EQ(text(read(t)), "new file\n");
  EXPECT_EQ(t.rotations(), 1u);
}

// A rule reload rewinds to the start of the unterminated line: the bytes from there are
// read again (not taken for a truncation), and a truncation after it is still seen.
TEST_F(TailerTest, ARewindRereadsFromThereAndStillSeesALaterTruncation) {
  Tailer t(dir_.path(), "t_1.log");
  append("a whole line\npartial");
  read(t);
  t.rewind_to(13);
  append(" line\n");
  auto p = read(t);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].offset, 13u);
  EXPECT_EQ(p[0].bytes, "partial line\n");
  EXPECT_FALSE(p[0].restarted);
  EXPECT_EQ(t.truncations(), 0u);
  { std::ofstream(path(), std::ios::trunc) << "a new run, longer than the old one was\n"; }
  auto q = read(t);
  ASSERT_FALSE(q.empty());
  EXPECT_TRUE(q[0].restarted);
  EXPECT_EQ(q[0].offset, 0u);
  EXPECT_EQ(t.truncations(), 1u);
}

TEST_F(TailerTest, FinishesARenamedFileThenReadsItsLateBytesAndTheNewOne) {
  Tailer t(dir_.path(), "t_1.log");
  append("old 1\n");
  read(t);
  const int writer = ::open(path().c_str(), O_WRONLY | O_APPEND);  // a worker's descriptor
  ASSERT_GE(writer, 0);
  (void)!::write(writer, "old 2\n", 6);
  fs::rename(path(), path() + ".1");
  append("new 1\n");
  auto p = read(t);
  ASSERT_EQ(text(p), "old 2\nnew 1\n");
  EXPECT_TRUE(p.back().restarted);
  // The worker still writes to the renamed file: those bytes are read too.
  (void)!::write(writer, "old 3\n", 6);
  ::close(writer);
  auto late = read(t);
  ASSERT_EQ(late.size(), 1u);
  EXPECT_EQ(late[0].bytes, "old 3\n");
  EXPECT_TRUE(late[0].rotated);
  EXPECT_EQ(t.rotations(), 1u);
}

TEST_F(TailerTest, ARotationWhileAwayIsFinishedFromTheSavedOffset) {
  FileId id;
  std::uint64_t offset = 0, fp = 0;
  {
    Tailer t(dir_.path(), "t_1.log");
    append("before the stop\n");
    read(t);
    id = t.id();
    offset = t.offset();
    fp = t.fingerprint();
  }
  append("written while medic was down\n");
  fs::rename(path(), path() + ".1");
  append("the next run\n");
  Tailer t(dir_.path(), "t_1.log");
  t.resume(id, offset, fp);
  auto p = read(t);
  EXPECT_EQ(text(p), "written while medic was down\nthe next run\n");
  ASSERT_GE(p.size(), 2u);
  EXPECT_TRUE(p.front().rotated);
  EXPECT_TRUE(p.back().restarted);
}

TEST_F(TailerTest, AResumedFileRewrittenWhileAwayIsReadFromZero) {
  FileId id;
  std::uint64_t offset = 0, fp = 0;
  {
    Tailer t(dir_.path(), "t_1.log");
    append("first\n");
    read(t);
    id = t.id();
    offset = t.offset();
    fp = t.fingerprint();
  }
  { std::ofstream(path(), std::ios::trunc) << "other bytes, longer\n"; }  // same inode
  Tailer t(dir_.path(), "t_1.log");
  t.resume(id, offset, fp);
  auto p = read(t);
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p[0].offset, 0u);
  EXPECT_EQ(text(p), "other bytes, longer\n");
}

TEST_F(TailerTest, RefusesALinkAndAFifoOnceEach) {
  testing::TempDir other;
  const std::string secret = other.file("secret", "s3cret\n");
  fs::create_symlink(secret, path());
  Tailer t(dir_.path(), "t_1.log");
  EXPECT_TRUE(read(t).empty());
  EXPECT_EQ(t.refused(), "a symbolic link");
  read(t);
  EXPECT_EQ(t.refusals(), 1u);
  fs::remove(path());
  ASSERT_EQ(::mkfifo(path().c_str(), 0644), 0);
  EXPECT_TRUE(read(t).empty());
  EXPECT_EQ(t.refused(), "a FIFO");
  EXPECT_EQ(t.refusals(), 2u);
}

TEST_F(TailerTest, HonoursItsBudgetAndSaysMoreRemains) {
  Tailer t(dir_.path(), "t_1.log", 1024);
  append(std::string(5000, 'x'));
  std::size_t got = 0;
  const bool more = t.read_available(
      dir_fd_.get(), [&](const FileId&, std::uint64_t, std::string_view b, bool, bool) { got += b.size(); }, 2048);
  EXPECT_TRUE(more);
  EXPECT_EQ(got, 2048u);
  EXPECT_EQ(text(read(t)).size(), 5000u - 2048u);
}

}  // namespace
}  // namespace medic::tail
