// RequestIdGenerator: every id is 32 lower-case hex digits, ids do not repeat, and every digit
// value turns up (the digits are the generator's bits, not a subset of them).
#include "proxy/request_id.h"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <string>

namespace turnpike::proxy {
namespace {

TEST(RequestIdGeneratorTest, IdsAreThirtyTwoLowerCaseHexDigitsAndUnique) {
  RequestIdGenerator generator;
  std::set<std::string> seen;
  std::set<char> digits;
  std::string id;
  for (int i = 0; i < 10'000; ++i) {
    generator.next(id);
    ASSERT_EQ(id.size(), 32U) << id;
    for (char c : id) {
      ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
      digits.insert(c);
    }
    EXPECT_TRUE(seen.insert(id).second) << "repeated id " << id;
  }
  EXPECT_EQ(digits.size(), 16U) << "every hex digit appears in 10,000 random ids";
}

TEST(RequestIdGeneratorTest, EveryPositionVaries) {
  RequestIdGenerator generator;
  std::string first;
  generator.next(first);
  std::string id;
  std::array<bool, 32> changed{};
  for (int i = 0; i < 1'000; ++i) {
    generator.next(id);
    for (std::size_t p = 0; p < 32; ++p) changed[p] = changed[p] || id[p] != first[p];
  }
  for (std::size_t p = 0; p < 32; ++p) EXPECT_TRUE(changed[p]) << "digit " << p << " never changes";
}

TEST(RequestIdGeneratorTest, TwoGeneratorsDoNotStartAlike) {
  RequestIdGenerator a;
  RequestIdGenerator b;
  std::string id_a;
  std::string id_b;
  a.next(id_a);
  b.next(id_b);
  EXPECT_NE(id_a, id_b) << "each generator is seeded on its own";
}

}  // namespace
}  // namespace turnpike::proxy
