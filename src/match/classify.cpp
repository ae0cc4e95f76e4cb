#include "match/classify.h"

#include "core/check.h"
#include "match/stream.h"

namespace medic::match {

std::optional<std::size_t> strongest_failure(const PatternDb& db, std::span<const Hit> hits) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < hits.size(); ++i) {
    const rules::Rule& r = db.rule(hits[i].rule);
    if (r.is_context()) continue;
    if (!best) {
      best = i;
      continue;
    }
    const rules::Rule& b = db.rule(hits[*best].rule);
    if (r.priority > b.priority || (r.priority == b.priority && hits[i].rule < hits[*best].rule)) {
      best = i;
    }
  }
  return best;
}

std::vector<Hit> scan_text(const PatternDb& db, Matcher& matcher, std::string_view text) {
  std::vector<Hit> hits;
  auto stream = Stream::open(db);
  MEDIC_CHECK(stream.has_value(), "a stream on a compiled database failed to open (out of memory?)");
  stream->feed(text, matcher, hits);
  stream->finish(matcher, hits);
  return hits;
}

}  // namespace medic::match
