#include "core/json_writer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

namespace medic::core {
namespace {

std::string escaped(std::string_view s) {
  std::string out;
  append_json_escaped(out, s);
  return out;
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlBytes) {
  EXPECT_EQ(escaped("a\"b\\c\n\t\x01"), "a\\\"b\\\\c\\n\\t\\u0001");
}

TEST(JsonWriterTest, KeepsValidUtf8) { EXPECT_EQ(escaped("⚠️ 🔌 Provider"), "⚠️ 🔌 Provider"); }

TEST(JsonWriterTest, ReplacesInvalidUtf8WithReplacementCharacter) {
  EXPECT_EQ(escaped("a\xff"
                    "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(escaped("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong '/'
  EXPECT_EQ(escaped("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(escaped("\xE2\x82"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // truncated sequence
}

TEST(JsonWriterTest, WritesDocumentsThatParse) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("text").value("bad \xfe bytes");
  w.key("n").value(std::int64_t{1780861905});
  w.key("d").value(3.89);
  w.key("whole").value(86400.0);
  w.key("none").null();
  w.key("list").begin_array().value(1).value("x").end_array();
  w.end_object();
  EXPECT_EQ(out,
            "{\"text\":\"bad \xEF\xBF\xBD bytes\",\"n\":1780861905,\"d\":3.89,\"whole\":86400,"
            "\"none\":null,\"list\":[1,\"x\"]}");
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(out).get(doc), simdjson::SUCCESS);
  EXPECT_EQ(std::string_view(doc["text"].get_string().value()), "bad \xEF\xBF\xBD bytes");
}

}  // namespace
}  // namespace medic::core
