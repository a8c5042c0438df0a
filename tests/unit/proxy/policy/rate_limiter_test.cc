#include "proxy/policy/rate_limiter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/proxy/allocation_counter.h"

namespace turnpike::proxy::policy {
namespace {

using model::RateLimitAlgorithm;
using model::RateLimitPolicy;
using Clock = RateLimiter::Clock;

// Fake time points: `now` is whatever the test says, on the steady clock's epoch.
Clock::time_point atMs(int64_t ms) { return Clock::time_point(std::chrono::milliseconds(ms)); }
Clock::time_point atS(int64_t s) { return atMs(s * 1000); }
Clock::time_point atNs(int64_t ns) { return Clock::time_point(std::chrono::nanoseconds(ns)); }

RateLimitPolicy makePolicy(std::string id, RateLimitAlgorithm algorithm, int64_t limit,
                           int64_t window_s, int64_t burst = 0) {
  RateLimitPolicy p;
  p.id = std::move(id);
  p.name = "policy-" + p.id;
  p.algorithm = algorithm;
  p.limit = limit;
  p.window_s = window_s;
  p.burst = burst;
  return p;
}

// Hits `n` times at `now`; returns how many passed.
int hitMany(RateLimiter& limiter, const RateLimitPolicy& p, std::string_view key, int n,
            Clock::time_point now) {
  int allowed = 0;
  for (int i = 0; i < n; ++i) allowed += limiter.hit(p, key, now).allowed ? 1 : 0;
  return allowed;
}

// "k<i>" without an allocation (fits the small-string buffer).
std::string_view numberedKey(char (&buffer)[24], std::size_t i) {
  buffer[0] = 'k';
  auto [end, ec] = std::to_chars(buffer + 1, buffer + sizeof(buffer), i);
  return std::string_view(buffer, static_cast<std::size_t>(end - buffer));
}

// ---------------------------------------------------------------------------------------------
// fixed_window: windows are [k·60 s, (k+1)·60 s); 960 s..1020 s is one of them.

TEST(RateLimiterFixedWindowTest, LimitThenRefuseThenResetAtTheBoundary) {
  RateLimiter limiter;
  auto p = makePolicy("p", RateLimitAlgorithm::kFixedWindow, 3, 60);

  for (int64_t expected_remaining : {2, 1, 0}) {
    RateLimitDecision d = limiter.hit(p, "alice", atS(1000));
    EXPECT_TRUE(d.allowed);
    EXPECT_EQ(d.limit, 3);
    EXPECT_EQ(d.remaining, expected_remaining);
    EXPECT_EQ(d.reset_s, 20);
    EXPECT_EQ(d.retry_after_s, 0);
  }
  RateLimitDecision refused = limiter.hit(p, "alice", atS(1000));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.reset_s, 20);
  EXPECT_EQ(refused.retry_after_s, 20);

  // The last nanosecond of the window still refuses, rounding Retry-After up to 1 s.
  refused = limiter.hit(p, "alice", atNs(1'019'999'999'999));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 1);
  EXPECT_EQ(refused.reset_s, 1);

  // The boundary starts a fresh window; refused requests were not counted.
  RateLimitDecision d = limiter.hit(p, "alice", atS(1020));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 2);
  EXPECT_EQ(d.reset_s, 60);
  EXPECT_EQ(hitMany(limiter, p, "alice", 5, atS(1079)), 2);
}

// ---------------------------------------------------------------------------------------------
// sliding_window

TEST(RateLimiterSlidingWindowTest, WeightedCarryOverFromThePreviousWindow) {
  RateLimiter limiter;
  auto p = makePolicy("p", RateLimitAlgorithm::kSlidingWindow, 10, 60);

  // Window [960, 1020): 10 hits late in it, then refusal.
  EXPECT_EQ(hitMany(limiter, p, "alice", 10, atS(1010)), 10);
  RateLimitDecision refused = limiter.hit(p, "alice", atS(1010));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);

  // At the start of the next window the previous 10 weigh fully: refused until 10·(1 − f) <= 9,
  // i.e. f >= 10 %, 6 s in.
  refused = limiter.hit(p, "alice", atS(1020));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 6);
  EXPECT_EQ(refused.reset_s, 6);

  // 50 % into window 2: the previous window weighs 5, so only 5 pass.
  EXPECT_EQ(hitMany(limiter, p, "alice", 5, atS(1050)), 5);
  refused = limiter.hit(p, "alice", atS(1050));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.limit, 10);
  EXPECT_EQ(refused.remaining, 0);
  // 10·(1 − f) + 5 + 1 <= 10 once f >= 60 %: 36 s into the window, 6 s from now.
  EXPECT_EQ(refused.retry_after_s, 6);

  RateLimitDecision d = limiter.hit(p, "alice", atS(1056));
  EXPECT_TRUE(d.allowed);  // 4 + 5 + 1 = 10
  EXPECT_EQ(d.remaining, 0);
  EXPECT_FALSE(limiter.hit(p, "alice", atS(1056)).allowed);

  // Window 3 starts with the 6 of window 2 weighing fully: 4 pass.
  d = limiter.hit(p, "alice", atS(1080));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.remaining, 3);
  EXPECT_EQ(d.reset_s, 60);  // remaining > 0: until the window ends
  EXPECT_EQ(hitMany(limiter, p, "alice", 5, atS(1080)), 3);

  // A whole idle window later nothing is carried.
  EXPECT_EQ(hitMany(limiter, p, "alice", 11, atS(1200)), 10);
}

TEST(RateLimiterSlidingWindowTest, WhenTheCurrentWindowIsFullRetryIsInTheNextOne) {
  RateLimiter limiter;
  auto p = makePolicy("p", RateLimitAlgorithm::kSlidingWindow, 4, 60);
  // All 4 early in window [960, 1020).
  EXPECT_EQ(hitMany(limiter, p, "k", 4, atS(970)), 4);
  RateLimitDecision refused = limiter.hit(p, "k", atS(970));
  EXPECT_FALSE(refused.allowed);
  // Next window: 4·(1 − f) + 1 <= 4 once f >= 25 %: 50 s + 15 s from now.
  EXPECT_EQ(refused.retry_after_s, 65);
  EXPECT_FALSE(limiter.hit(p, "k", atMs(1034'999)).allowed);
  EXPECT_TRUE(limiter.hit(p, "k", atS(1035)).allowed);
}

// ---------------------------------------------------------------------------------------------
// token_bucket

TEST(RateLimiterTokenBucketTest, BurstCapacityThenRefillRate) {
  RateLimiter limiter;
  // 10 per 10 s = one token per second; capacity 15.
  auto p = makePolicy("p", RateLimitAlgorithm::kTokenBucket, 10, 10, 5);

  RateLimitDecision d = limiter.hit(p, "alice", atS(1000));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.limit, 15);
  EXPECT_EQ(d.remaining, 14);
  EXPECT_EQ(d.reset_s, 1);  // the token just taken is back in a second
  EXPECT_EQ(hitMany(limiter, p, "alice", 14, atS(1000)), 14);

  RateLimitDecision refused = limiter.hit(p, "alice", atS(1000));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);
  EXPECT_EQ(refused.retry_after_s, 1);
  EXPECT_EQ(refused.reset_s, 1);

  refused = limiter.hit(p, "alice", atMs(1000'500));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.retry_after_s, 1);  // 0.5 s, rounded up

  EXPECT_EQ(hitMany(limiter, p, "alice", 3, atS(1001)), 1);
  EXPECT_EQ(hitMany(limiter, p, "alice", 5, atS(1004)), 3);
  // Long idle: full again, but never above capacity.
  EXPECT_EQ(hitMany(limiter, p, "alice", 20, atS(2000)), 15);
}

TEST(RateLimiterTokenBucketTest, FractionalRefillRateIsExact) {
  RateLimiter limiter;
  // 3 per 10 s: one token every 3.333… s.
  auto p = makePolicy("p", RateLimitAlgorithm::kTokenBucket, 3, 10);
  EXPECT_EQ(hitMany(limiter, p, "k", 4, atS(1000)), 3);
  RateLimitDecision refused = limiter.hit(p, "k", atS(1000));
  EXPECT_EQ(refused.retry_after_s, 4);
  EXPECT_FALSE(limiter.hit(p, "k", atNs(1'003'333'333'333)).allowed);
  EXPECT_TRUE(limiter.hit(p, "k", atNs(1'003'333'333'334)).allowed);
  EXPECT_FALSE(limiter.hit(p, "k", atNs(1'003'333'333'334)).allowed);
}

// ---------------------------------------------------------------------------------------------
// Identity: keys, policies, edits.

TEST(RateLimiterKeysTest, KeysAndPoliciesAreIndependent) {
  RateLimiter limiter;
  auto a = makePolicy("policy-a", RateLimitAlgorithm::kFixedWindow, 1, 60);
  auto b = makePolicy("policy-b", RateLimitAlgorithm::kFixedWindow, 1, 60);
  EXPECT_TRUE(limiter.hit(a, "alice", atS(1000)).allowed);
  EXPECT_FALSE(limiter.hit(a, "alice", atS(1000)).allowed);
  EXPECT_TRUE(limiter.hit(a, "bob", atS(1000)).allowed);
  EXPECT_TRUE(limiter.hit(b, "alice", atS(1000)).allowed);
  EXPECT_TRUE(limiter.hit(a, "", atS(1000)).allowed);  // an empty key is a key too
  EXPECT_FALSE(limiter.hit(a, "", atS(1000)).allowed);
  EXPECT_EQ(limiter.size(), 4u);
}

TEST(RateLimiterPolicyEditTest, SameIdKeepsTheCounterWithTheNewNumbers) {
  RateLimiter limiter;
  auto p = makePolicy("p", RateLimitAlgorithm::kFixedWindow, 5, 60);
  EXPECT_EQ(hitMany(limiter, p, "alice", 3, atS(1000)), 3);

  // Renamed, retagged: the counter is the same.
  p.name = "renamed";
  p.tags = {"gold"};
  p.updated_at = 99;
  EXPECT_EQ(limiter.hit(p, "alice", atS(1001)).remaining, 1);

  // A higher limit lets more pass on the same count; a lower one refuses at once.
  p.limit = 10;
  EXPECT_EQ(limiter.hit(p, "alice", atS(1002)).remaining, 5);
  p.limit = 4;
  RateLimitDecision refused = limiter.hit(p, "alice", atS(1003));
  EXPECT_FALSE(refused.allowed);
  EXPECT_EQ(refused.remaining, 0);

  // A longer window that contains the counter's window keeps the count: [960, 1020) lies in
  // [960, 1080).
  p.limit = 6;
  p.window_s = 120;
  EXPECT_EQ(hitMany(limiter, p, "alice", 3, atS(1004)), 1);

  // A changed algorithm starts afresh.
  p.algorithm = RateLimitAlgorithm::kTokenBucket;
  EXPECT_EQ(limiter.hit(p, "alice", atS(1005)).remaining, 5);
  EXPECT_EQ(limiter.size(), 1u);
}

TEST(RateLimiterPolicyEditTest, TokenBucketKeepsItsTokensWhenTheWindowChanges) {
  RateLimiter limiter;
  auto p = makePolicy("p", RateLimitAlgorithm::kTokenBucket, 10, 10);
  EXPECT_EQ(hitMany(limiter, p, "k", 6, atS(1000)), 6);  // 4 tokens left
  p.window_s = 100;                                      // now one token per 10 s
  p.burst = 2;
  EXPECT_EQ(limiter.hit(p, "k", atS(1000)).remaining, 3);
  EXPECT_EQ(hitMany(limiter, p, "k", 5, atS(1000)), 3);
  EXPECT_FALSE(limiter.hit(p, "k", atS(1009)).allowed);
  EXPECT_TRUE(limiter.hit(p, "k", atS(1010)).allowed);
}

// ---------------------------------------------------------------------------------------------
// tightest()

TEST(RateLimiterTightestTest, RefusingWithLongestRetryElseLeastRemaining) {
  EXPECT_TRUE(tightest({}).allowed);

  std::vector<RateLimitDecision> allowed = {
      {true, 100, 50, 10, 0}, {true, 10, 3, 5, 0}, {true, 20, 7, 1, 0}};
  EXPECT_EQ(&tightest(allowed), &allowed[1]);

  std::vector<RateLimitDecision> mixed = {
      {true, 10, 0, 5, 0}, {false, 100, 0, 30, 30}, {false, 5, 0, 2, 2}, {false, 7, 0, 30, 30}};
  EXPECT_EQ(&tightest(mixed), &mixed[1]);  // the first of the longest refusals
}

// ---------------------------------------------------------------------------------------------
// The request path.

TEST(RateLimiterHotPathTest, HitOnAnExistingCounterDoesNotAllocate) {
  RateLimiter limiter;
  auto p = makePolicy("2f1e7c44-8a0b-4c5e-9d7f-3b2a1c0d9e8f", RateLimitAlgorithm::kSlidingWindow,
                      1000, 60);
  const std::string key = "tpk_AbC1dEf2GhI3jKl4MnO5pQr6StU7vWx8";  // longer than SSO
  ASSERT_TRUE(limiter.hit(p, key, atS(1000)).allowed);
  for (auto algorithm : {RateLimitAlgorithm::kSlidingWindow, RateLimitAlgorithm::kFixedWindow,
                         RateLimitAlgorithm::kTokenBucket}) {
    p.algorithm = algorithm;
    ASSERT_TRUE(limiter.hit(p, key, atS(1001)).allowed);
    RateLimitDecision d;
    EXPECT_EQ(testing::countAllocations([&] { d = limiter.hit(p, key, atS(1002)); }), 0);
    EXPECT_TRUE(d.allowed);
  }
}

// ---------------------------------------------------------------------------------------------
// Concurrency: check-and-count is one atomic step.

TEST(RateLimiterConcurrencyTest, EightThreadsOnOneKeyPassExactlyTheLimit) {
  constexpr int kThreads = 8;
  constexpr int kHitsPerThread = 500;
  constexpr int64_t kLimit = 1000;
  for (auto algorithm : {RateLimitAlgorithm::kFixedWindow, RateLimitAlgorithm::kSlidingWindow,
                         RateLimitAlgorithm::kTokenBucket}) {
    for (int round = 0; round < 3; ++round) {
      RateLimiter limiter;
      auto p = makePolicy("p", algorithm, kLimit, 3600);
      std::latch start(kThreads);
      std::vector<std::vector<int64_t>> remaining(kThreads);
      std::vector<std::thread> threads;
      for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
          start.arrive_and_wait();
          for (int i = 0; i < kHitsPerThread; ++i) {
            // Each thread's clock runs on its own (within one window), as real workers' reads do.
            RateLimitDecision d = limiter.hit(p, "hot", atMs(1'000'000 + i));
            if (d.allowed) remaining[t].push_back(d.remaining);
          }
        });
      }
      for (auto& thread : threads) thread.join();

      std::vector<int64_t> all;
      for (const auto& r : remaining) all.insert(all.end(), r.begin(), r.end());
      ASSERT_EQ(static_cast<int64_t>(all.size()), kLimit)
          << model::toString(algorithm) << " round " << round;
      // Every pass saw a distinct count: 999, 998, …, 0.
      std::sort(all.begin(), all.end());
      for (int64_t i = 0; i < kLimit; ++i) ASSERT_EQ(all[i], i) << model::toString(algorithm);
    }
  }
}

TEST(RateLimiterConcurrencyTest, FloodOnOtherThreadsKeepsTheHotKeyExact) {
  RateLimiter limiter(64 * 100);
  auto hot_policy = makePolicy("hot", RateLimitAlgorithm::kFixedWindow, 1000, 3600);
  auto flood_policy = makePolicy("flood", RateLimitAlgorithm::kFixedWindow, 10, 3600);
  std::atomic<int> allowed{0};
  std::atomic<bool> over_bound{false};
  std::latch start(8);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      start.arrive_and_wait();
      int mine = 0;
      // Later than every flood hit: the hot key is never the least recently used.
      for (int i = 0; i < 500; ++i) mine += limiter.hit(hot_policy, "hot", atS(2000)).allowed;
      allowed += mine;
    });
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      char buffer[24];
      for (std::size_t i = 0; i < 5000; ++i) {
        limiter.hit(flood_policy, numberedKey(buffer, t * 1'000'000 + i), atS(1000));
        if (i % 1000 == 0 && limiter.size() > limiter.maxEntries()) over_bound = true;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 1000);
  EXPECT_FALSE(over_bound.load());
  EXPECT_LE(limiter.size(), limiter.maxEntries());
}

// ---------------------------------------------------------------------------------------------
// Memory bound and eviction.

// Sanitizers slow each hit down ~10x: they get a tenth of the flood, at the same ratio.
#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr std::size_t kFloodKeys = 100'000;
constexpr std::size_t kFloodMaxEntries = 1'000;
#else
constexpr std::size_t kFloodKeys = 1'000'000;
constexpr std::size_t kFloodMaxEntries = 10'000;
#endif

TEST(RateLimiterEvictionTest, MillionDistinctKeysStayWithinMaxEntries) {
  RateLimiter limiter(kFloodMaxEntries);
  auto p = makePolicy("p", RateLimitAlgorithm::kSlidingWindow, 10, 60);
  char buffer[24];
  std::size_t allowed = 0;
  for (std::size_t i = 0; i < kFloodKeys; ++i) {
    allowed += limiter.hit(p, numberedKey(buffer, i), atS(1000)).allowed ? 1 : 0;
    if (i % (kFloodKeys / 10) == 0) {
      ASSERT_LE(limiter.size(), kFloodMaxEntries) << i;
    }
  }
  EXPECT_EQ(allowed, kFloodKeys);
  EXPECT_LE(limiter.size(), kFloodMaxEntries);
  // It does keep counters: an eviction frees a quarter of a shard at a time.
  EXPECT_GE(limiter.size(), kFloodMaxEntries * 7 / 10);
}

TEST(RateLimiterEvictionTest, ExpiredCountersGoFirst) {
  RateLimiter limiter(64 * 100);
  // The hot key is the least recently used of all, but its window is still open.
  auto hot = makePolicy("hot", RateLimitAlgorithm::kFixedWindow, 100, 3600);
  EXPECT_EQ(hitMany(limiter, hot, "alice", 50, atS(1000)), 50);
  // A flood of 1-second windows, 1 ms apart: most of a full shard has expired.
  auto flood = makePolicy("flood", RateLimitAlgorithm::kFixedWindow, 10, 1);
  char buffer[24];
  for (std::size_t i = 0; i < 50'000; ++i) {
    limiter.hit(flood, numberedKey(buffer, i), atMs(1'000'001 + static_cast<int64_t>(i)));
  }
  EXPECT_LE(limiter.size(), 6'400u);
  EXPECT_EQ(limiter.hit(hot, "alice", atS(1100)).remaining, 49);
}

TEST(RateLimiterEvictionTest, LeastRecentlyUsedGoWhenNothingExpired) {
  RateLimiter limiter(64 * 100);
  auto p = makePolicy("p", RateLimitAlgorithm::kFixedWindow, 100, 3600);
  EXPECT_EQ(hitMany(limiter, p, "cold", 50, atS(1000)), 50);
  EXPECT_EQ(hitMany(limiter, p, "hot", 50, atS(1000)), 50);
  int hot_hits = 50;
  char buffer[24];
  for (std::size_t i = 0; i < 20'000; ++i) {
    const Clock::time_point now = atMs(1'000'001 + static_cast<int64_t>(i));
    limiter.hit(p, numberedKey(buffer, i), now);
    if (i % 500 == 0) {  // 40 more hits, each at most 0.5 s before the newest flood key
      ASSERT_TRUE(limiter.hit(p, "hot", now).allowed);
      ++hot_hits;
    }
  }
  EXPECT_LE(limiter.size(), 6'400u);
  // The hot key kept its count; the cold one was evicted and starts over.
  EXPECT_EQ(limiter.hit(p, "hot", atS(1100)).remaining, 100 - hot_hits - 1);
  EXPECT_EQ(limiter.hit(p, "cold", atS(1100)).remaining, 99);
}

TEST(RateLimiterEvictionTest, TinyBoundsHoldToo) {
  for (std::size_t max_entries :
       {std::size_t{0}, std::size_t{1}, std::size_t{3}, std::size_t{100}}) {
    RateLimiter limiter(max_entries);
    auto p = makePolicy("p", RateLimitAlgorithm::kTokenBucket, 1, 60);
    char buffer[24];
    for (std::size_t i = 0; i < 1000; ++i) {
      limiter.hit(p, numberedKey(buffer, i), atS(1000));
      ASSERT_LE(limiter.size(), std::max<std::size_t>(1, max_entries));
    }
    EXPECT_GE(limiter.size(), 1u);
  }
}

}  // namespace
}  // namespace turnpike::proxy::policy
