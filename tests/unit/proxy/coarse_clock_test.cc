#include "proxy/coarse_clock.h"

#include <gtest/gtest.h>
#include <time.h>

#include <chrono>
#include <thread>

namespace turnpike::proxy {
namespace {

using std::chrono::steady_clock;

TEST(CoarseClockTest, IsSteadyClockAtMostOneTickBehind) {
  timespec resolution{};
  ASSERT_EQ(clock_getres(CLOCK_MONOTONIC_COARSE, &resolution), 0);
  const auto tick =
      std::chrono::seconds(resolution.tv_sec) + std::chrono::nanoseconds(resolution.tv_nsec);
  // A tick, plus room for the test thread being descheduled between the two reads.
  const auto slack = tick + std::chrono::milliseconds(50);
  for (int i = 0; i < 1000; ++i) {
    const auto fine_before = steady_clock::now();
    const auto coarse = coarseNow();
    const auto fine_after = steady_clock::now();
    ASSERT_LE(coarse, fine_after) << "never ahead of steady_clock";
    ASSERT_GE(coarse, fine_before - slack) << "at most a tick behind";
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
