#include "core/json_fields.h"

#include <cmath>
#include <string_view>

namespace medic::core::json {

std::string str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

std::optional<std::int64_t> number(simdjson::dom::element e, const char* key) {
  simdjson::dom::element v;
  if (e[key].get(v) != simdjson::SUCCESS) return std::nullopt;
  std::int64_t i = 0;
  if (v.get_int64().get(i) == simdjson::SUCCESS) return i;
  // An unsigned integer above INT64_MAX fails get_int64 and is out of range; a double is
  // cut toward zero only when the result fits (a cast of 1e300 would be undefined).
  double d = 0;
  if (!v.is_uint64() && v.get_double().get(d) == simdjson::SUCCESS && std::isfinite(d) && d >= -9.2e18 && d <= 9.2e18)
    return static_cast<std::int64_t>(d);
  return std::nullopt;
}

std::vector<std::string> strings(simdjson::dom::element e, const char* key) {
  std::vector<std::string> out;
  simdjson::dom::array a;
  if (e[key].get_array().get(a) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element x : a) {
    std::string_view v;
    if (x.get_string().get(v) == simdjson::SUCCESS) out.emplace_back(v);
  }
  return out;
}

}  // namespace medic::core::json
