#include "core/beneath.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "integration/process.h"

namespace medic::core {
namespace {

namespace fs = std::filesystem;

class BeneathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto fd = open_trusted_dir(root_.path());
    ASSERT_TRUE(fd);
    fd_ = std::move(*fd);
  }
  testing::TempDir root_;
  testing::TempDir outside_;
  UniqueFd fd_;
};

TEST_F(BeneathTest, OpensAFileBeneathItsDirectory) {
  root_.file("a/b/c.txt", "hello");
  auto f = open_beneath(fd_.get(), "a//b/./c.txt", O_RDONLY);
  ASSERT_TRUE(f) << f.error().message;
  char buf[8] = {};
  EXPECT_EQ(::read(f->get(), buf, sizeof buf), 5);
}

TEST_F(BeneathTest, RefusesDotDotAbsolutePathsAndNul) {
  EXPECT_FALSE(open_beneath(fd_.get(), "../x", O_RDONLY));
  EXPECT_FALSE(open_beneath(fd_.get(), "a/../../x", O_RDONLY));
  EXPECT_FALSE(open_beneath(fd_.get(), "/etc/passwd", O_RDONLY));
  EXPECT_FALSE(open_beneath(fd_.get(), std::string_view("a\0b", 3), O_RDONLY));
}

TEST_F(BeneathTest, RefusesALinkAsTheLastComponentAndOnTheWay) {
  outside_.file("secret", "s");
  fs::create_symlink(outside_.path() + "/secret", root_.path() + "/link");
  fs::create_symlink(outside_.path(), root_.path() + "/dirlink");
  root_.file("real/inner", "x");
  fs::create_symlink("real", root_.path() + "/inlink");  // even one that stays inside
  auto a = open_beneath(fd_.get(), "link", O_RDONLY);
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().code, ErrorCode::InvalidArgument) << a.error().message;
  EXPECT_FALSE(open_beneath(fd_.get(), "dirlink/secret", O_RDONLY));
  EXPECT_FALSE(open_beneath(fd_.get(), "inlink/inner", O_RDONLY));
  EXPECT_FALSE(open_dir_beneath(fd_.get(), "dirlink", false));
}

TEST_F(BeneathTest, CreatesMissingDirectoriesButNeverThroughALink) {
  auto d = open_dir_beneath(fd_.get(), "x/y/z", true);
  ASSERT_TRUE(d) << d.error().message;
  EXPECT_TRUE(fs::is_directory(root_.path() + "/x/y/z"));
  fs::create_symlink(outside_.path(), root_.path() + "/evil");
  EXPECT_FALSE(open_dir_beneath(fd_.get(), "evil/state", true));
  EXPECT_FALSE(fs::exists(outside_.path() + "/state"));
}

TEST_F(BeneathTest, AFifoOpenedNonBlockingDoesNotHang) {
  ASSERT_EQ(::mkfifo((root_.path() + "/fifo").c_str(), 0644), 0);
  auto f = open_beneath(fd_.get(), "fifo", O_RDONLY | O_NONBLOCK);
  ASSERT_TRUE(f);  // opened at once; its type is the caller's to check
  struct stat st {};
  ASSERT_EQ(::fstat(f->get(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
}

TEST(PathTextTest, NormalisesAndPlacesPathsLexically) {
  EXPECT_EQ(*normalize_absolute("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(*normalize_absolute("/"), "/");
  EXPECT_FALSE(normalize_absolute("a/b"));
  EXPECT_FALSE(normalize_absolute("/a/../b"));
  EXPECT_EQ(*relative_to("/home/u", "/home/u/ws/a"), "ws/a");
  EXPECT_EQ(*relative_to("/home/u", "/home/u"), "");
  EXPECT_FALSE(relative_to("/home/u", "/home/user2"));
  EXPECT_EQ(*relative_to("/", "/x"), "x");
  EXPECT_TRUE(is_single_component("t_1.log"));
  EXPECT_FALSE(is_single_component(".."));
  EXPECT_FALSE(is_single_component("a/b"));
}

}  // namespace
}  // namespace medic::core
