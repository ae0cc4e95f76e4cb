#include "core/ids.h"

#include <gtest/gtest.h>

namespace medic::core {
namespace {

TEST(IdsTest, TaskIdsFollowHermesShape) {
  EXPECT_TRUE(valid_task_id("t_52cac9ce"));
  EXPECT_TRUE(valid_task_id("t_0123456789ab"));
  EXPECT_TRUE(valid_task_id("t_parent"));
  for (const char* bad :
       {"", "t_", "-h", "--help", "t_../x", "../../../outside/pwn", "t_a/b", "t_a b", "T_abc", "t_a.log", "x_abc"}) {
    EXPECT_FALSE(valid_task_id(bad)) << bad;
  }
}

TEST(IdsTest, BoardSlugsAndProfilesFollowHermesRegex) {
  EXPECT_TRUE(valid_board_slug("proj"));
  EXPECT_TRUE(valid_board_slug("atm10-server"));
  EXPECT_TRUE(valid_profile_name("researcher"));
  for (const char* bad : {"", "_x", "-x", "..", "a/b", "A", "a.b", "../victim3"}) {
    EXPECT_FALSE(valid_board_slug(bad)) << bad;
    EXPECT_FALSE(valid_profile_name(bad)) << bad;
  }
  EXPECT_FALSE(valid_board_slug(std::string(65, 'a')));
}

TEST(IdsTest, ProviderNamesRefuseOptionsAndPaths) {
  EXPECT_TRUE(valid_provider_name("openai-codex"));
  EXPECT_TRUE(valid_provider_name("anthropic/claude-sonnet-4"));
  EXPECT_TRUE(valid_provider_name("gpt-5.5"));
  for (const char* bad : {"", "-x", "--provider", "../x", "a b", "x;rm"}) EXPECT_FALSE(valid_provider_name(bad)) << bad;
}

}  // namespace
}  // namespace medic::core
