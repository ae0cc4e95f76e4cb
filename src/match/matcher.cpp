#include "match/matcher.h"

namespace medic::match {
namespace {
// Extractors need few groups; 16 pairs leave room for generous patterns.
constexpr uint32_t kMatchDataPairs = 16;
}  // namespace

core::Result<Matcher> Matcher::create(const PatternDb& db) {
  Matcher m;
  m.match_data_.reset(pcre2_match_data_create(kMatchDataPairs, nullptr));
  if (!m.match_data_) return core::fail(core::ErrorCode::Internal, "pcre2_match_data_create failed");
  if (auto r = m.prepare(db); !r) return tl::unexpected(r.error());
  return m;
}

core::Result<void> Matcher::prepare(const PatternDb& db) {
  hs_scratch_t* raw = scratch_.release();
  // hs_alloc_scratch grows an existing scratch so it also fits `db`.
  if (hs_alloc_scratch(db.hs(), &raw) != HS_SUCCESS) {
    scratch_.reset(raw);
    return core::fail(core::ErrorCode::Internal, "hs_alloc_scratch failed");
  }
  scratch_.reset(raw);
  return {};
}

std::size_t Matcher::scratch_bytes() const {
  std::size_t n = 0;
  hs_scratch_size(scratch_.get(), &n);
  return n;
}

}  // namespace medic::match
