// The rule reader on arbitrary YAML: never crashes, and every rule it accepts is sane
// (an id, a bounded repeat, a diagnostic that names the file for what it refuses).

#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "rules/rule_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<medic::rules::RuleSource> sources{
      {"rules/fuzz.yaml", std::string(reinterpret_cast<const char*>(data), size)}};
  const auto read = medic::rules::read_rules(sources);
  for (const auto& d : read.diagnostics) {
    FUZZ_CHECK(!medic::rules::format(d).empty());
  }
  if (read.ok()) {
    for (const auto& r : read.rules.rules) {
      FUZZ_CHECK(!r.id.empty());
      FUZZ_CHECK(medic::rules::largest_repeat(r.pattern) <= medic::rules::kMaxRepeat);
    }
  }
  return 0;
}
