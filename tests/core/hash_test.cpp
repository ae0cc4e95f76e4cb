#include "core/hash.h"

#include <gtest/gtest.h>

namespace medic::core {
namespace {

// The published FNV-1a 64 test vectors: fingerprints on disk must not change.
TEST(HashTest, Fnv1aMatchesThePublishedVectors) {
  EXPECT_EQ(fnv1a(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a("foobar"), 0x85944171f73967e8ull);
}

TEST(HashTest, IncrementalEqualsWhole) {
  EXPECT_EQ(Fnv1a().add("foo").add("bar").value(), fnv1a("foobar"));
  EXPECT_NE(Fnv1a().add("ab").add_byte(0xff).add("c").value(), Fnv1a().add("a").add_byte(0xff).add("bc").value());
}

}  // namespace
}  // namespace medic::core
