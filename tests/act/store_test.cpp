#include "act/store.h"

#include <gtest/gtest.h>

namespace medic::act {
namespace {

TEST(ActStoreTest, WhatIsSavedIsReadBackTheSame) {
  ActState s;
  s.last_seq = 42;
  s.applied = {"default/t_a/1", "ops/t_b/3"};
  s.timers.push_back(TimerState{"default/t_a/1", "default", "t_a", "/home/w/ws \"quoted\"", 1780861905, true});
  s.timers.push_back(TimerState{"ops/t_c/2", "ops", "t_c", "", 1780000000, false});
  s.waits.push_back(
      WaitState{"default/t_d/11", "default", "t_d", 11, "/home/w/d", R"({"type":"decision","id":"x"})", 1780000090});
  const std::string text = encode_state(s);
  EXPECT_EQ(text.back(), '\n');
  auto back = decode_state(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(*back, s);
}

TEST(ActStoreTest, ATextThatIsNotAnObjectIsAnError) {
  for (const char* bad : {"", "{\"last_seq\":", "[1,2]", "garbage"}) {
    EXPECT_FALSE(decode_state(bad)) << bad;
  }
}

// A worker controls its task's name only through Hermes's grammar; a file edited (or
// planted) with a path or an option as a task never reaches a `hermes` argv.
TEST(ActStoreTest, TimersWithNamesOutsideHermesGrammarAreDropped) {
  const std::string text = R"({"last_seq":7,"applied":["x"],"timers":[
    {"decision_id":"d1","board":"default","task":"../../etc/passwd","at":1},
    {"decision_id":"d2","board":"default","task":"-h","at":1},
    {"decision_id":"d3","board":"../x","task":"t_ok","at":1},
    {"decision_id":"","board":"default","task":"t_ok","at":1},
    {"decision_id":"d5","board":"default","task":"t_ok","at":5}]})";
  std::size_t dropped = 0;
  auto s = decode_state(text, &dropped);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(dropped, 4u);
  ASSERT_EQ(s->timers.size(), 1u);
  EXPECT_EQ(s->timers[0].decision_id, "d5");
  EXPECT_EQ(s->timers[0].at, 5);
  EXPECT_EQ(s->last_seq, 7u);
}

TEST(ActStoreTest, WaitsWithNamesOutsideHermesGrammarOrNoRunAreDropped) {
  const std::string text = R"({"last_seq":7,"waits":[
    {"decision_id":"d1","board":"default","task":"--help","run_id":3,"until":9},
    {"decision_id":"d2","board":"default","task":"t_ok","until":9},
    {"decision_id":"d3","board":"default","task":"t_ok","run_id":3,"until":9}]})";
  std::size_t dropped = 0;
  auto s = decode_state(text, &dropped);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(dropped, 2u);
  ASSERT_EQ(s->waits.size(), 1u);
  EXPECT_EQ(s->waits[0].decision_id, "d3");
  EXPECT_EQ(s->waits[0].until, 9);
}

TEST(ActStoreTest, KeepsOnlyTheNewestAppliedIds) {
  ActState s;
  for (std::size_t i = 0; i < kMaxApplied + 5; ++i) s.applied.push_back("default/t_" + std::to_string(i) + "/1");
  auto back = decode_state(encode_state(s));
  ASSERT_TRUE(back);
  ASSERT_EQ(back->applied.size(), kMaxApplied);
  EXPECT_EQ(back->applied.front(), "default/t_5/1");
  EXPECT_EQ(back->applied.back(), "default/t_" + std::to_string(kMaxApplied + 4) + "/1");
}

}  // namespace
}  // namespace medic::act
