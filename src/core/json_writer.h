#pragma once
// Appends JSON text to a caller-owned string. Strings are escaped per RFC 8259 and any
// byte sequence that is not valid UTF-8 becomes U+FFFD, so the output is always valid JSON
// whatever the log contained. Writing only: parsing goes through simdjson.
// Thread: none of its own; one writer per thread.

#include <cstdint>
#include <string>
#include <string_view>

namespace medic::core {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}

  JsonWriter& begin_object();
  JsonWriter& end_object();
  JsonWriter& begin_array();
  JsonWriter& end_array();
  /// Writes `"name":`; the next value call supplies the value.
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view text);
  JsonWriter& value(const char* text) { return value(std::string_view(text)); }
  JsonWriter& value(std::int64_t number);
  JsonWriter& value(int number) { return value(static_cast<std::int64_t>(number)); }
  /// Whole numbers print without a fraction; NaN and infinities print as null.
  JsonWriter& value(double number);
  JsonWriter& value(bool flag);
  JsonWriter& null();

 private:
  void separate();

  std::string& out_;
  bool need_comma_ = false;
};

/// Appends `text` escaped for the inside of a JSON string, repairing invalid UTF-8.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace medic::core
