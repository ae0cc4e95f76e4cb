#include "decide/decided_set.h"

#include <gtest/gtest.h>

#include <string>

namespace medic::decide {
namespace {

std::string id(int n) { return "default/t_" + std::to_string(n) + "/1"; }

TEST(DecidedSetTest, FindsWhatWasInsertedAndNothingElse) {
  DecidedSet s;
  s.insert("default/t_a/1", DecidedRun{rules::Action::RetryAt, true});
  s.insert("default/t_a", DecidedRun{});
  auto a = s.find("default/t_a/1");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->action, rules::Action::RetryAt);
  EXPECT_TRUE(a->known_reset);
  auto task = s.find("default/t_a");
  ASSERT_TRUE(task);
  EXPECT_FALSE(task->action);
  EXPECT_FALSE(s.contains("default/t_a/2"));
  EXPECT_FALSE(s.contains("default/t_b/1"));
  EXPECT_EQ(s.size(), 2u);
}

TEST(DecidedSetTest, AnInsertWithoutAnActionKeepsTheOneRecorded) {
  DecidedSet s;
  s.insert(id(1), DecidedRun{rules::Action::Block, false});
  s.insert(id(1), DecidedRun{});
  EXPECT_EQ(s.find(id(1))->action, rules::Action::Block);
  s.seal();
  s.insert(id(1), DecidedRun{});
  EXPECT_EQ(s.find(id(1))->action, rules::Action::Block);
  s.insert(id(1), DecidedRun{rules::Action::Retry, false});
  EXPECT_EQ(s.find(id(1))->action, rules::Action::Retry);
  EXPECT_EQ(s.size(), 1u);
}

// Past several merges (an eighth of the sorted part each), every id is still found with
// its own action, and ids never inserted are not.
TEST(DecidedSetTest, KeepsEveryIdAcrossMergesInNineBytesEach) {
  constexpr int kN = 200000;
  DecidedSet s;
  const rules::Action actions[] = {rules::Action::Retry, rules::Action::Block, rules::Action::Complete,
                                   rules::Action::RepairEnv};
  for (int i = 0; i < kN; ++i) s.insert(id(i), DecidedRun{actions[i % 4], i % 3 == 0});
  EXPECT_EQ(s.size(), static_cast<std::size_t>(kN));
  for (int i = 0; i < kN; i += 7) {
    auto d = s.find(id(i));
    ASSERT_TRUE(d) << i;
    EXPECT_EQ(d->action, actions[i % 4]) << i;
    EXPECT_EQ(d->known_reset, i % 3 == 0) << i;
  }
  for (int i = kN; i < kN + 1000; ++i) EXPECT_FALSE(s.contains(id(i))) << i;
  s.seal();
  EXPECT_TRUE(s.contains(id(kN - 1)));
  // 9 bytes an id, and vector growth at most doubles it.
  EXPECT_LE(s.bytes(), 2u * 9u * kN);
}

}  // namespace
}  // namespace medic::decide
