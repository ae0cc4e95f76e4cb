// One daemon per state dir: a second lock of the same dir is refused and names the holder's
// pid; the lock is free again once its holder is gone; a lock file that is a link is not
// followed.
#include "state/state_dir_lock.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <optional>

#include "integration/process.h"

namespace medic::state {
namespace {

using testing::TempDir;

TEST(StateDirLockTest, ASecondLockIsRefusedWithTheHoldersPidUntilTheFirstIsGone) {
  TempDir dir;
  std::optional<StateDirLock> first;
  {
    auto taken = StateDirLock::acquire(dir.path());
    ASSERT_TRUE(taken) << taken.error().message;
    first.emplace(std::move(*taken));
  }
  auto second = StateDirLock::acquire(dir.path());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, core::ErrorCode::Busy);
  EXPECT_NE(second.error().message.find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos)
      << second.error().message;
  first.reset();
  EXPECT_TRUE(StateDirLock::acquire(dir.path()));
}

TEST(StateDirLockTest, ALockFileThatIsALinkIsNotFollowed) {
  TempDir dir;
  TempDir elsewhere;
  const std::string target = elsewhere.file("victim", "keep me\n");
  std::filesystem::create_symlink(target, dir.path() + "/medic.lock");
  auto lock = StateDirLock::acquire(dir.path());
  ASSERT_FALSE(lock);
  EXPECT_EQ(testing::read_file(target), "keep me\n");
}

}  // namespace
}  // namespace medic::state
