// The wire format's round trips: what the daemon encodes, act and the tests decode.
#include "publish/decision_codec.h"

#include <gtest/gtest.h>

namespace medic::publish {
namespace {

TEST(DecisionCodecTest, ARunEndedLineRoundTripsAndNamesItsType) {
  RunEnded r{"default/t_a1/11", "default", "t_a1", 11, "protocol_violation", 1796194706};
  const std::string line = encode_run_ended(r, 42);
  EXPECT_EQ(message_type(line), "run_ended");
  auto m = decode_run_ended(line);
  ASSERT_TRUE(m) << m.error().message;
  EXPECT_EQ(m->seq, 42u);
  const RunEnded* back = &m->run;
  EXPECT_EQ(back->decision_id, r.decision_id);
  EXPECT_EQ(back->board, r.board);
  EXPECT_EQ(back->task_id, r.task_id);
  EXPECT_EQ(back->run_id, 11);
  EXPECT_EQ(back->event, "protocol_violation");
  EXPECT_EQ(back->at, 1796194706);
}

TEST(DecisionCodecTest, ARunEndedDecoderRefusesOtherTypesAndLinesWithoutARun) {
  EXPECT_FALSE(decode_run_ended(R"({"type":"decision","id":"default/t_a/1","run_id":1})"));
  EXPECT_FALSE(decode_run_ended(R"({"type":"run_ended","id":"default/t_a/1"})"));
  EXPECT_FALSE(decode_run_ended(R"({"type":"run_ended","run_id":3})"));
  EXPECT_FALSE(decode_run_ended("not json"));
  // A decision decoder never takes a run_ended line for a decision.
  EXPECT_FALSE(decode_decision(encode_run_ended(RunEnded{"default/t_a/1", "default", "t_a", 1, "crashed", 0}, 1)));
}

}  // namespace
}  // namespace medic::publish
