#pragma once
// What the matcher reports: one rule hitting one line. Plain values; no references into
// scan buffers survive the call that produced them.

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace medic::core {
class JsonWriter;
}  // namespace medic::core

namespace medic::match {

/// Numbers are typed by field name (resets_at and http_status are integers, retry_after_s
/// is seconds as a double); every other field keeps the captured text.
using FieldValue = std::variant<std::int64_t, double, std::string>;

struct Field {
  std::string name;
  FieldValue value;
  friend bool operator==(const Field&, const Field&) = default;
};

/// A small ordered list; hits carry a handful of fields at most.
using Fields = std::vector<Field>;

const FieldValue* find_field(const Fields& fields, std::string_view name);

/// Writes fields as one JSON object (numbers as numbers): the form the decision codec and
/// the checkpoint both use.
void write_fields(core::JsonWriter& w, const Fields& fields);

struct Hit {
  std::uint32_t rule = 0;    // index into the compiled RuleSet
  std::uint64_t line = 0;    // 1-based line number; 0 when line counting is off
  std::uint64_t offset = 0;  // byte offset of the line's first byte in the source
  std::string text;          // the line, without its newline (and a trailing '\r')
  bool truncated = false;    // the line was longer than max_line_bytes; text is its start
  Fields fields;             // extracted fields, then context fields not set by the rule
};

}  // namespace medic::match
