// The socket request parser on arbitrary lines and journal bounds: never crashes, and a
// request it accepts asks for a seq the journal can serve.

#include <fuzzer/FuzzedDataProvider.h>

#include <string>

#include "fuzz/fuzz_target.h"
#include "publish/unix_socket_publisher.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::uint64_t last = in.ConsumeIntegralInRange<std::uint64_t>(0, 1ull << 62);
  const std::uint64_t first = in.ConsumeIntegralInRange<std::uint64_t>(1, last + 1);
  const std::string line = in.ConsumeRemainingBytesAsString();
  const auto r = medic::publish::parse_request(line, first, last);
  if (r) {
    FUZZ_CHECK(r->since <= last);
    FUZZ_CHECK(r->since + 1 >= first || r->since == 0);
  } else {
    FUZZ_CHECK(!r.error().message.empty());
  }
  return 0;
}
