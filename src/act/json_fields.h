#pragma once
// Reading one field of a simdjson object the way act reads Hermes's and its own JSON:
// a missing or mistyped field is the empty value, never an error. Internal to act/.

#include <simdjson.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace medic::act::json {

inline std::string str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

inline std::int64_t num(simdjson::dom::element e, const char* key) {
  std::int64_t v = 0;
  if (e[key].get_int64().get(v) == simdjson::SUCCESS) return v;
  std::uint64_t u = 0;
  if (e[key].get_uint64().get(u) == simdjson::SUCCESS) return static_cast<std::int64_t>(u);
  return 0;
}

}  // namespace medic::act::json
