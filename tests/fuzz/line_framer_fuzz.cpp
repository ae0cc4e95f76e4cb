// The log line framer (match::Stream) on arbitrary bytes cut into arbitrary chunks: CR,
// NUL, invalid UTF-8, lines longer than the cap. Never crashes, and the chunking never
// changes a result: fed in pieces it reports exactly the hits of one whole feed, with
// line numbers and offsets that point at the line in the source.

#include <fuzzer/FuzzedDataProvider.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/fuzz_target.h"
#include "match/matcher.h"
#include "match/pattern_db.h"
#include "match/stream.h"
#include "rules/rule_reader.h"

namespace {

using medic::match::Hit;

constexpr const char* kRules = R"(
- id: usage-limit
  class: rate_limit
  priority: 80
  pattern: 'usage limit'
  flags: [caseless]
  extract:
    resets_at: 'resets_at:\s*(\d{1,13})'
    retry_after_s: 'in\s+(\d+\s*[a-z]{1,7})'
- id: http-4xx
  class: rate_limit
  pattern: 'HTTP 4\d\d\b'
  extract:
    http_status: 'HTTP (\d{3})'
- id: line-start
  class: timeout
  pattern: '^timed out$'
- id: nul-byte
  class: env_missing
  pattern: '\x00missing'
- id: context
  context: true
  pattern: 'Provider: \S+'
  extract:
    provider: 'Provider:\s+(\S+)'
)";

struct Fixture {
  std::unique_ptr<medic::match::PatternDb> db;
  std::optional<medic::match::Matcher> matcher;
};

Fixture& fixture() {
  static Fixture f = [] {
    Fixture out;
    std::vector<medic::rules::RuleSource> sources{{"fuzz.yaml", kRules}};
    auto read = medic::rules::read_rules(sources);
    FUZZ_CHECK(read.ok());
    auto compiled = medic::match::PatternDb::compile(std::move(read.rules));
    FUZZ_CHECK(compiled.db != nullptr);
    out.db = std::move(compiled.db);
    auto m = medic::match::Matcher::create(*out.db);
    FUZZ_CHECK(m.has_value());
    out.matcher.emplace(std::move(*m));
    return out;
  }();
  return f;
}

bool same(const Hit& a, const Hit& b) {
  return a.rule == b.rule && a.line == b.line && a.offset == b.offset && a.text == b.text &&
         a.truncated == b.truncated && a.fields == b.fields;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Fixture& f = fixture();
  FuzzedDataProvider in(data, size);
  medic::match::StreamOptions options;
  options.max_line_bytes = in.ConsumeIntegralInRange<std::size_t>(1, 256);
  std::vector<std::size_t> chunks;
  const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 8);
  for (std::size_t i = 0; i < n; ++i) chunks.push_back(in.ConsumeIntegralInRange<std::size_t>(1, 64));
  const std::string text = in.ConsumeRemainingBytesAsString();

  auto whole = medic::match::Stream::open(*f.db, options);
  FUZZ_CHECK(whole.has_value());
  std::vector<Hit> expected;
  whole->feed(text, *f.matcher, expected);
  whole->finish(*f.matcher, expected);

  auto pieces = medic::match::Stream::open(*f.db, options);
  FUZZ_CHECK(pieces.has_value());
  std::vector<Hit> got;
  std::size_t pos = 0;
  for (std::size_t i = 0; pos < text.size(); ++i) {
    const std::size_t len = std::min(chunks[i % chunks.size()], text.size() - pos);
    pieces->feed(std::string_view(text).substr(pos, len), *f.matcher, got);
    pos += len;
  }
  FUZZ_CHECK(pieces->offset() == text.size());
  pieces->finish(*f.matcher, got);

  FUZZ_CHECK(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    FUZZ_CHECK(same(got[i], expected[i]));
    const Hit& h = got[i];
    FUZZ_CHECK(h.offset <= text.size());
    FUZZ_CHECK(h.offset == 0 || text[h.offset - 1] == '\n');
    FUZZ_CHECK(h.text.size() <= options.max_line_bytes);
    FUZZ_CHECK(std::string_view(text).substr(h.offset).starts_with(h.text));
    FUZZ_CHECK(i == 0 || h.line >= got[i - 1].line);
  }
  return 0;
}
