#include <gtest/gtest.h>

#include "publish/unix_socket_publisher.h"

namespace medic::publish {
namespace {

TEST(RequestTest, ASubscribeWithASinceUpToTheLastSeqIsAccepted) {
  auto r = parse_request(R"({"op":"subscribe","since":7})", 1, 10);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->since, 7u);
  EXPECT_EQ(parse_request(R"({"op":"subscribe"})", 1, 10)->since, 0u);
}

TEST(RequestTest, EveryMalformedFieldIsRefusedWithAReason) {
  for (const char* bad :
       {R"({"op":"subscribe","since":18446744073709551615})", R"({"op":"subscribe","since":11})",
        R"({"op":"subscribe","since":-1})", R"({"op":"subscribe","since":"1"})", R"({"op":"subscribe","since":1.0})",
        R"({"op":"subscribe","since":null})", R"({"op":"other"})", R"({"op":1})", R"({"since":1})",
        R"({"op":"subscribe","extra":true})", "[]", "", "{"}) {
    auto r = parse_request(bad, 1, 10);
    EXPECT_FALSE(r) << bad;
    if (!r) {
      EXPECT_FALSE(r.error().message.empty());
    }
  }
}

TEST(RequestTest, ASinceOlderThanTheJournalKeepsNamesTheOldestSeqKept) {
  auto r = parse_request(R"({"op":"subscribe","since":3})", 100, 200);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("the oldest seq kept is 100"), std::string::npos) << r.error().message;
  EXPECT_TRUE(parse_request(R"({"op":"subscribe","since":99})", 100, 200));
}

}  // namespace
}  // namespace medic::publish
