#include "match/stream.h"

#include <gtest/gtest.h>

#include "match/classify.h"
#include "match/test_rules.h"

namespace medic::match {
namespace {

constexpr const char* kRules = R"(
- id: codex-429
  class: rate_limit
  priority: 80
  pattern: 'The usage limit has been reached'
  extract:
    resets_at: 'resets_at:\s*(\d{9,11})'
- id: http-429
  class: rate_limit
  priority: 30
  pattern: 'HTTP 429\b'
- id: timed-out
  class: timeout
  pattern: 'timed out'
  flags: [caseless]
- id: provider-line
  context: true
  pattern: 'Provider: \S+ +Model: '
  extract:
    provider: 'Provider:\s+(\S+)'
    model: 'Model:\s+(\S+)'
)";

class StreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::compile_yaml(kRules);
    ASSERT_TRUE(db_);
    auto m = Matcher::create(*db_);
    ASSERT_TRUE(m);
    matcher_.emplace(std::move(*m));
  }

  // Feeds `text` in pieces of `chunk` bytes and finishes the stream.
  std::vector<Hit> scan(std::string_view text, std::size_t chunk, StreamOptions options = {}) {
    auto s = Stream::open(*db_, options);
    EXPECT_TRUE(s);
    std::vector<Hit> hits;
    for (std::size_t i = 0; i < text.size(); i += chunk) {
      s->feed(text.substr(i, chunk), *matcher_, hits);
    }
    s->finish(*matcher_, hits);
    return hits;
  }

  std::string rule_id(const Hit& h) const { return db_->rule(h.rule).id; }

  std::unique_ptr<PatternDb> db_;
  std::optional<Matcher> matcher_;
};

TEST_F(StreamTest, FindsASignatureSplitAcrossTwoChunks) {
  const std::string text = "first line\nHTTP 429: The usage limit has been reached. resets_at: 1780861905\nlast\n";
  // Every split point inside the signature must give the same hit.
  for (std::size_t chunk = 1; chunk <= text.size(); ++chunk) {
    const auto hits = scan(text, chunk);
    // Both rules hit line 2; hits of one line come in the order their matches end.
    ASSERT_EQ(hits.size(), 2u) << "chunk=" << chunk;
    EXPECT_EQ(rule_id(hits[0]), "http-429");
    const Hit& hit = hits[1];
    ASSERT_EQ(rule_id(hit), "codex-429");
    EXPECT_EQ(hit.line, 2u) << "chunk=" << chunk;
    EXPECT_EQ(hit.offset, 11u);
    EXPECT_EQ(hit.text, "HTTP 429: The usage limit has been reached. resets_at: 1780861905");
    const FieldValue* resets_at = find_field(hit.fields, "resets_at");
    ASSERT_NE(resets_at, nullptr) << "chunk=" << chunk;
    EXPECT_EQ(*resets_at, FieldValue{std::int64_t{1780861905}});
  }
}

TEST_F(StreamTest, AttributesAMatchConfirmedByTheNextChunkToItsOwnLine) {
  // "HTTP 429\b" is only confirmed by the byte after "429"; when that byte starts the
  // next chunk, Hyperscan reports the match during that chunk's scan.
  const std::string first = "a\nHTTP 429";
  const std::string second = ": slow down\nb\nc\n";
  auto s = Stream::open(*db_);
  ASSERT_TRUE(s);
  std::vector<Hit> hits;
  s->feed(first, *matcher_, hits);
  EXPECT_TRUE(hits.empty());
  s->feed(second, *matcher_, hits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(rule_id(hits[0]), "http-429");
  EXPECT_EQ(hits[0].line, 2u);
  EXPECT_EQ(hits[0].text, "HTTP 429: slow down");
  s->finish(*matcher_, hits);
  EXPECT_EQ(hits.size(), 1u);
}

TEST_F(StreamTest, ReportsTheSameHitsWhateverTheChunkSize) {
  std::string text;
  for (int i = 0; i < 200; ++i) {
    text += "line " + std::to_string(i) + (i % 7 == 0 ? " HTTP 429" : "") + (i % 11 == 0 ? " request timed out" : "") +
            "\n";
  }
  const auto reference = scan(text, text.size());
  ASSERT_FALSE(reference.empty());
  for (std::size_t chunk = 1; chunk < 64; ++chunk) {
    const auto hits = scan(text, chunk);
    ASSERT_EQ(hits.size(), reference.size()) << "chunk=" << chunk;
    for (std::size_t k = 0; k < hits.size(); ++k) {
      EXPECT_EQ(hits[k].line, reference[k].line) << "chunk=" << chunk;
      EXPECT_EQ(hits[k].rule, reference[k].rule) << "chunk=" << chunk;
      EXPECT_EQ(hits[k].text, reference[k].text) << "chunk=" << chunk;
    }
  }
}

TEST_F(StreamTest, RecoversALineLongerThanAChunk) {
  const std::string filler(5000, 'x');
  const std::string line = filler + " request timed out " + filler;
  const auto hits = scan("a\n" + line + "\nb\n", 64);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].line, 2u);
  EXPECT_EQ(hits[0].offset, 2u);
  EXPECT_EQ(hits[0].text, line);
  EXPECT_FALSE(hits[0].truncated);
}

TEST_F(StreamTest, TruncatesTheTextOfALineOverTheCapButKeepsTheHit) {
  StreamOptions options;
  options.max_line_bytes = 100;
  const std::string line = "timed out " + std::string(1 << 20, 'y');  // a 1 MiB line
  const auto hits = scan(line + "\nnext timed out\n", 4096, options);
  ASSERT_EQ(hits.size(), 2u);
  EXPECT_TRUE(hits[0].truncated);
  EXPECT_EQ(hits[0].text.size(), 100u);
  EXPECT_EQ(hits[1].line, 2u);
  EXPECT_EQ(hits[1].offset, line.size() + 1);
  EXPECT_EQ(hits[1].text, "next timed out");
}

TEST_F(StreamTest, ReportsOneHitPerLineAndRule) {
  const auto hits = scan("timed out, timed out, TIMED OUT\n", 7);
  ASSERT_EQ(hits.size(), 1u);
}

TEST_F(StreamTest, CountsLinesAcrossChunksAndReportsOffsets) {
  std::string text;
  for (int i = 1; i <= 300; ++i) {
    text += (i % 100 == 0) ? "request timed out\n" : "ok line " + std::to_string(i) + "\n";
  }
  for (std::size_t chunk : {3u, 17u, 4096u}) {
    const auto hits = scan(text, chunk);
    ASSERT_EQ(hits.size(), 3u);
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(hits[k].line, static_cast<std::uint64_t>((k + 1) * 100)) << "chunk=" << chunk;
      EXPECT_EQ(text.substr(hits[k].offset, 17), "request timed out");
    }
  }
}

TEST_F(StreamTest, ReportsTheUnterminatedLastLineAtFinish) {
  const auto hits = scan("ok\nconnection timed out", 5);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].line, 2u);
  EXPECT_EQ(hits[0].text, "connection timed out");
}

TEST_F(StreamTest, HoldsAPartialLineUntilItsNewline) {
  auto s = Stream::open(*db_);
  ASSERT_TRUE(s);
  std::vector<Hit> hits;
  s->feed("request timed", *matcher_, hits);
  s->feed(" out and more", *matcher_, hits);
  EXPECT_TRUE(hits.empty());
  EXPECT_EQ(s->line_start_offset(), 0u);
  s->feed(" text\n", *matcher_, hits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].text, "request timed out and more text");
  EXPECT_EQ(s->line_start_offset(), s->offset());
}

TEST_F(StreamTest, StripsCarriageReturnAndSurvivesBinaryBytes) {
  const std::string text = std::string("\x00\xff\xfe binary\r\n", 12) + "timed out\r\n";
  const auto hits = scan(text, 4);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].text, "timed out");
  EXPECT_EQ(hits[0].line, 2u);
}

TEST_F(StreamTest, AddsContextFieldsToLaterFailureHits) {
  const auto hits = scan(
      "⚠️  first attempt timed out\n"
      "   🔌 Provider: openai-codex  Model: gpt-5.5\n"
      "   📝 Error: Request timed out.\n",
      16);
  ASSERT_EQ(hits.size(), 3u);
  EXPECT_EQ(rule_id(hits[0]), "timed-out");
  EXPECT_EQ(find_field(hits[0].fields, "provider"), nullptr);  // before the context line
  EXPECT_EQ(rule_id(hits[1]), "provider-line");
  EXPECT_EQ(rule_id(hits[2]), "timed-out");
  EXPECT_EQ(*find_field(hits[2].fields, "provider"), FieldValue{std::string("openai-codex")});
  EXPECT_EQ(*find_field(hits[2].fields, "model"), FieldValue{std::string("gpt-5.5")});
}

TEST_F(StreamTest, LabelsALineByItsHighestPriorityFailureHit) {
  const auto hits = scan_text(*db_, *matcher_, "HTTP 429: The usage limit has been reached\n");
  ASSERT_EQ(hits.size(), 2u);
  const auto best = strongest_failure(*db_, hits);
  ASSERT_TRUE(best);
  EXPECT_EQ(rule_id(hits[*best]), "codex-429");
}

TEST_F(StreamTest, RestartsAtAnOffsetWithFreshLineState) {
  auto s = Stream::open(*db_);
  ASSERT_TRUE(s);
  std::vector<Hit> hits;
  s->feed("partial timed", *matcher_, hits);
  ASSERT_TRUE(s->restart(*db_, 1000, 42));
  s->feed(" out\nrequest timed out\n", *matcher_, hits);
  ASSERT_EQ(hits.size(), 1u);  // the partial line before the restart is gone
  EXPECT_EQ(hits[0].text, "request timed out");
  EXPECT_EQ(hits[0].line, 43u);
  EXPECT_EQ(hits[0].offset, 1005u);
}

TEST_F(StreamTest, SkipsLineCountingWhenAskedButStillFindsHits) {
  StreamOptions options;
  options.count_lines = false;
  const auto hits = scan("a\nb\nrequest timed out\n", 3, options);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0].line, 0u);
  EXPECT_EQ(hits[0].offset, 4u);
}

}  // namespace
}  // namespace medic::match
