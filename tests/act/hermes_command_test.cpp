#include "act/hermes_command.h"

#include <gtest/gtest.h>

namespace medic::act {
namespace {

using Argv = std::vector<std::string>;

TEST(HermesCommandTest, OptionsAreOneArgumentAndPositionalsFollowADoubleDash) {
  const HermesCommand c{"block", {{"kind", "transient"}}, {"t_1", "--reason looks like an option"}};
  EXPECT_EQ(c.argv("hermes", "proj"), (Argv{"hermes", "kanban", "--board=proj", "block", "--kind=transient", "--",
                                            "t_1", "--reason looks like an option"}));
}

TEST(HermesCommandTest, AFlagHasNoValueAndAValueMayStartWithADash) {
  const HermesCommand c{"show", {{"json", ""}, {"reason", "-h"}}, {"t_1"}};
  EXPECT_EQ(c.argv("h", "default"),
            (Argv{"h", "kanban", "--board=default", "show", "--json", "--reason=-h", "--", "t_1"}));
  EXPECT_EQ((HermesCommand{"dispatch", {}, {}}.argv("h", "b")), (Argv{"h", "kanban", "--board=b", "dispatch"}));
}

}  // namespace
}  // namespace medic::act
