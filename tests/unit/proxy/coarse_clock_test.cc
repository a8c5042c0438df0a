#include "proxy/coarse_clock.h"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace turnpike::proxy {
namespace {

using std::chrono::steady_clock;

TEST(CoarseClockTest, IsNeverAheadOfSteadyClockNorBehindByMoreThanTheBound) {
  auto check = [](int i) {
    const auto fine_before = steady_clock::now();
    const auto coarse = coarseNow();
    const auto fine_after = steady_clock::now();
    // A pause between the reads only makes `coarse` more recent: the bound cannot be met by luck.
    ASSERT_LE(coarse, fine_after) << "read " << i;
    ASSERT_GE(coarse, fine_before - kCoarseClockLag) << "read " << i;
  };
  for (int i = 0; i < 1000; ++i) check(i);  // busy
  for (int i = 0; i < 20; ++i) {  // after a pause, when a tickless kernel may not have ticked
    std::this_thread::sleep_for(std::chrono::milliseconds(15));
    check(i);
  }
}

TEST(CoarseClockTest, Advances) {
  const auto first = coarseNow();
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  const auto later = coarseNow();
  EXPECT_GE(later - first, std::chrono::milliseconds(20));
  EXPECT_LE(later - first, std::chrono::seconds(5));
}

}  // namespace
}  // namespace turnpike::proxy
