// The journal segment reader on arbitrary bytes: never crashes; the good part it keeps
// ends at a line end, holds exactly the lines it counted, and rescans to the same result.

#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <string>

#include "fuzz/fuzz_target.h"
#include "publish/journal.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const std::uint64_t first_seq = in.ConsumeIntegralInRange<std::uint64_t>(1, 1000);
  const std::string text = in.ConsumeRemainingBytesAsString();
  const auto scan = medic::publish::scan_segment(text, first_seq, 4);
  FUZZ_CHECK(scan.good_bytes <= text.size());
  FUZZ_CHECK(scan.good_bytes == 0 || text[scan.good_bytes - 1] == '\n');
  FUZZ_CHECK(static_cast<std::uint64_t>(std::count(
                 text.begin(), text.begin() + static_cast<std::ptrdiff_t>(scan.good_bytes), '\n')) == scan.lines);
  FUZZ_CHECK(scan.why.empty() == (scan.good_bytes == text.size()));
  FUZZ_CHECK(scan.index.size() == (scan.lines + 3) / 4);
  // The journal cuts at good_bytes and goes on: the cut text must read whole.
  const auto again = medic::publish::scan_segment(std::string_view(text).substr(0, scan.good_bytes), first_seq, 4);
  FUZZ_CHECK(again.lines == scan.lines && again.why.empty() && again.decided == scan.decided);
  return 0;
}
