// The decision codec on arbitrary lines: never crashes, and what it decodes encodes to a
// line that decodes to the same message (encode . decode is a fixed point).

#include <string_view>

#include "fuzz/fuzz_target.h"
#include "publish/decision_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view line(reinterpret_cast<const char*>(data), size);
  (void)medic::publish::message_type(line);
  const auto first = medic::publish::decode_decision(line);
  if (!first) return 0;
  const std::string once = medic::publish::encode_decision(first->decision, first->seq);
  const auto second = medic::publish::decode_decision(once);
  FUZZ_CHECK(second.has_value());
  FUZZ_CHECK(second->seq == first->seq);
  const std::string twice = medic::publish::encode_decision(second->decision, second->seq);
  FUZZ_CHECK(once == twice);
  return 0;
}
