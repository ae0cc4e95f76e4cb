#include "decide/decided_set.h"

#include <algorithm>

#include "core/hash.h"

namespace medic::decide {

std::uint8_t DecidedSet::pack(const DecidedRun& d) {
  if (!d.action) return 0;
  return static_cast<std::uint8_t>(kHasAction | (d.known_reset ? kKnownReset : 0) |
                                   (static_cast<std::uint8_t>(*d.action) & kActionMask));
}

DecidedRun DecidedSet::unpack(std::uint8_t v) {
  DecidedRun d;
  if (v & kHasAction) d.action = static_cast<rules::Action>(v & kActionMask);
  d.known_reset = (v & kKnownReset) != 0;
  return d;
}

std::uint8_t* DecidedSet::slot(std::uint64_t h) {
  const auto it = std::lower_bound(keys_.begin(), keys_.end(), h);
  if (it != keys_.end() && *it == h) return &values_[static_cast<std::size_t>(it - keys_.begin())];
  if (auto r = recent_.find(h); r != recent_.end()) return &r->second;
  return nullptr;
}

void DecidedSet::insert(std::string_view id, DecidedRun what) {
  const std::uint64_t h = core::fnv1a(id);
  if (std::uint8_t* v = slot(h)) {
    if (what.action) *v = pack(what);
    return;
  }
  recent_[h] = pack(what);
  // Merged past an eighth of the sorted part: a bulk load of n ids merges O(log n) times.
  if (recent_.size() >= std::max(kMergeAt, keys_.size() / 8)) seal();
}

std::optional<DecidedRun> DecidedSet::find(std::string_view id) const {
  const std::uint8_t* v = const_cast<DecidedSet*>(this)->slot(core::fnv1a(id));
  if (!v) return std::nullopt;
  return unpack(*v);
}

// One backward merge in place: both parts are sorted and disjoint (an insert of a key the
// sorted part holds updates it there), so the result is sorted and unique.
void DecidedSet::seal() {
  if (recent_.empty()) return;
  std::size_t i = keys_.size();
  std::size_t out = keys_.size() + recent_.size();
  keys_.resize(out);
  values_.resize(out);
  for (auto r = recent_.rbegin(); r != recent_.rend(); ++r) {
    while (i > 0 && keys_[i - 1] > r->first) {
      --i;
      --out;
      keys_[out] = keys_[i];
      values_[out] = values_[i];
    }
    --out;
    keys_[out] = r->first;
    values_[out] = r->second;
  }
  recent_.clear();
}

std::size_t DecidedSet::bytes() const {
  // A std::map node: three pointers, a colour and the pair, rounded by malloc.
  return keys_.capacity() * sizeof(std::uint64_t) + values_.capacity() + recent_.size() * 48;
}

}  // namespace medic::decide
