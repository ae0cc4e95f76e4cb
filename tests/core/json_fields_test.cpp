#include "core/json_fields.h"

#include <gtest/gtest.h>

#include <string>

namespace medic::core::json {
namespace {

class JsonFieldsTest : public ::testing::Test {
 protected:
  simdjson::dom::element parse(const std::string& text) {
    simdjson::dom::element e;
    EXPECT_EQ(parser_.parse(text).get(e), simdjson::SUCCESS) << text;
    return e;
  }
  simdjson::dom::parser parser_;
};

TEST_F(JsonFieldsTest, AMissingOrMistypedStringIsEmpty) {
  const auto e = parse(R"({"a":"x\"y","n":3,"o":{}})");
  EXPECT_EQ(str(e, "a"), "x\"y");
  EXPECT_EQ(str(e, "n"), "");
  EXPECT_EQ(str(e, "o"), "");
  EXPECT_EQ(str(e, "gone"), "");
}

TEST_F(JsonFieldsTest, NumbersAreWholeAndInRangeOrNone) {
  const auto e = parse(R"({"i":-42,"u":9223372036854775807,"big":18446744073709551615,"f":1780861905.75,"neg":-2.5,)"
                       R"("huge":1e300,"s":"7","t":true})");
  EXPECT_EQ(number(e, "i"), -42);
  EXPECT_EQ(number(e, "u"), INT64_MAX);
  EXPECT_EQ(number(e, "big"), std::nullopt) << "above INT64_MAX";
  EXPECT_EQ(number(e, "f"), 1780861905) << "Python's time.time(), cut toward zero";
  EXPECT_EQ(number(e, "neg"), -2);
  EXPECT_EQ(number(e, "huge"), std::nullopt) << "a cast of 1e300 to int64 is undefined";
  EXPECT_EQ(number(e, "s"), std::nullopt) << "a string is no number";
  EXPECT_EQ(number(e, "t"), std::nullopt);
  EXPECT_EQ(number(e, "gone"), std::nullopt);
  EXPECT_EQ(number_or(e, "gone", 7), 7);
  EXPECT_EQ(number_or(e, "i", 7), -42);
}

TEST_F(JsonFieldsTest, StringsKeepOrderAndSkipOtherItems) {
  const auto e = parse(R"({"a":["x",1,"y",null,"z"],"s":"x"})");
  EXPECT_EQ(strings(e, "a"), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_TRUE(strings(e, "s").empty()) << "not an array";
  EXPECT_TRUE(strings(e, "gone").empty());
}

}  // namespace
}  // namespace medic::core::json
