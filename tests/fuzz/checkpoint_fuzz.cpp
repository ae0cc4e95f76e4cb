// The checkpoint reader on arbitrary state.json bytes: never crashes, and what it reads
// writes back to a checkpoint that reads the same (encode . parse is a fixed point).

#include <string_view>

#include "fuzz/fuzz_target.h"
#include "state/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto first = medic::state::parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!first) return 0;
  const std::string once = medic::state::encode(first->checkpoint);
  const auto second = medic::state::parse(once);
  FUZZ_CHECK(second.has_value());
  FUZZ_CHECK(second->bad_entries == 0);
  FUZZ_CHECK(medic::state::encode(second->checkpoint) == once);
  return 0;
}
