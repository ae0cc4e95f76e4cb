#pragma once
// FNV-1a 64: a stable hash (the same across runs, builds and machines, unlike std::hash)
// for fingerprints that are written to disk or compared across restarts: rule-set cache
// names, log tail fingerprints, report fingerprints, retry jitter. Not for security.
// (The four copies this replaces used an offset basis missing its last digit: a stable
// hash still, but not FNV-1a; the published vectors now pin it.)

#include <cstdint>
#include <string_view>

namespace medic::core {

class Fnv1a {
 public:
  Fnv1a& add(std::string_view bytes) {
    for (unsigned char c : bytes) add_byte(c);
    return *this;
  }
  Fnv1a& add_byte(std::uint8_t c) {
    h_ ^= c;
    h_ *= kPrime;
    return *this;
  }
  std::uint64_t value() const { return h_; }

 private:
  static constexpr std::uint64_t kOffset = 14695981039346656037ull;
  static constexpr std::uint64_t kPrime = 1099511628211ull;
  std::uint64_t h_ = kOffset;
};

inline std::uint64_t fnv1a(std::string_view bytes) { return Fnv1a().add(bytes).value(); }

}  // namespace medic::core
