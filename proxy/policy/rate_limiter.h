// RateLimiter: the per-process counters behind rate-limit policies (model::RateLimitPolicy), and
// tightest(), which picks the decision a response reports in its RateLimit-* headers.
//
//   RateLimiter limiter;  // one per process, shared by all workers, outlives snapshots
//   // per request, for each policy that applies (the caller computes the key from key_by)
//   RateLimitDecision d = limiter.hit(policy, consumer_id, RateLimiter::Clock::now());
//   if (!d.allowed) { /* 429 with Retry-After: d.retry_after_s */ }
//
// ALGORITHMS. The window of fixed_window and sliding_window is aligned to multiples of window_s
// on the steady clock's epoch (window k is [k·window_s, (k+1)·window_s) of time_since_epoch()),
// so every key of a policy rolls over at the same instant.
// - fixed_window: at most `limit` requests per window.
// - sliding_window: a request passes when
//   previous_window_count · (1 - elapsed_fraction) + current_count + 1 <= limit, computed exactly
//   in integers at nanosecond resolution (no floating point).
// - token_bucket: capacity `limit + burst` tokens, full at first sight of a key, refilled at
//   `limit` tokens per `window_s` (exact integer arithmetic); a request takes one token.
// A refused request is not counted. With all workers hammering one key, exactly `limit` (or
// capacity) requests pass: the check and the count are one step under the counter's shard lock.
//
// IDENTITY AND POLICY EDITS. A counter is keyed by (policy.id, key); nothing else of the policy
// is part of its identity, so editing a policy (or any other configuration) keeps its counters.
// A counter is read with the policy's numbers at the time of the hit: a lower limit may refuse at
// once, a higher one lets more pass. When window_s changes, a fixed or sliding counter stays the
// current window's count if it started inside the new current window, becomes the previous one
// (sliding only) if it started in the new grid's previous window, and is dropped otherwise; a
// bucket keeps its tokens (clamped to the new capacity). A changed algorithm starts afresh.
// Policy ids must not contain NUL (they are generated ids): the map key is "<id>\0<key>".
//
// MEMORY. At most `max_entries` counters live, in ceil(max_entries / 1600) shards (625 by
// default), each with its own mutex, max_entries / shards counters and a hash table of fixed
// size (1,919 slots of 96 bytes, ~115 bytes per counter when full). A policy id plus key longer
// than 15 bytes (a UUID id always is) adds a heap block of ~64 bytes: ~175 MB measured at the
// default bound, which a flood of distinct keys reaches. One shard may evict while the total is
// still under the bound. When a new key arrives in a full shard, the shard first drops every
// expired counter (one that would behave exactly like a new one: a fixed window that has ended,
// a sliding one whose two windows have passed, a full bucket), and if that did not free a quarter
// of its slots, it drops the least recently used counters (by last hit time, exactly) down to 3/4
// full. COST: an eviction is one or two passes over the shard's <= 1,600 counters plus a
// linear-time selection, and soon after a rehash of the table (erasures use up its load budget):
// some 100-300 µs under that shard's lock only. It happens at most once per 400 new keys in that
// shard, so a flood costs amortized O(1) per new key (1-3 µs each measured, mostly cache misses);
// requests on other shards do not wait.
//
// COST OF A HIT. One hash of the combined key (built in a thread_local buffer), one shard lock,
// one open-addressing lookup, integer arithmetic: ~90 ns measured (-O2); no allocation when the
// counter exists.
//
// THREAD: RateLimiter is thread-safe; tightest() is a pure function.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "model/rate_limit_policy.h"

namespace turnpike::proxy::policy {

// The outcome of one hit() and the numbers for the RateLimit-* and Retry-After headers.
struct RateLimitDecision {
  bool allowed = true;
  // RateLimit-Limit: the policy's limit; for token_bucket, its capacity (limit + burst).
  int64_t limit = 0;
  // RateLimit-Remaining: requests that would still pass right now (never negative).
  int64_t remaining = 0;
  // RateLimit-Reset, in whole seconds rounded up (>= 0; >= 1 when refused). fixed_window: until
  // the window ends. sliding_window: until the window ends, or, when remaining is 0, until a
  // request can pass again. token_bucket: until the next token is back (0 when full).
  int64_t reset_s = 0;
  // Retry-After when refused: seconds after which a request can pass (>= 1); 0 when allowed.
  int64_t retry_after_s = 0;
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `max_entries` bounds the number of live counters (values below 1 count as 1).
  explicit RateLimiter(std::size_t max_entries = 1'000'000);
  ~RateLimiter();
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // Counts one request against `policy` for `key` if it is allowed; a refused request is not
  // counted. `now` should come from Clock::now(); a `now` earlier than the counter's last hit
  // (threads racing to the lock) counts as that last hit's time. Out-of-range policy numbers
  // (not validated) are clamped into the model's ranges. Thread: any.
  RateLimitDecision hit(const model::RateLimitPolicy& policy, std::string_view key,
                        Clock::time_point now);

  // The number of live counters (tests, metrics). Takes each shard's lock in turn.
  std::size_t size() const;
  // The configured bound; size() never exceeds it.
  std::size_t maxEntries() const { return max_entries_; }

 private:
  struct Shard;

  Shard& shardFor(std::size_t hash) const;

  std::size_t max_entries_;
  std::size_t shard_count_;     // ceil(max_entries_ / 1600)
  std::size_t shard_capacity_;  // counters per shard: max_entries_ / shard_count_
  std::unique_ptr<Shard[]> shards_;
};

// Of several decisions for one request, the one to report in RateLimit-* headers: the refusing
// one with the largest retry_after_s if any refuses, else the one with the least remaining (the
// first on ties). An empty span yields a default (allowed) decision with static storage.
const RateLimitDecision& tightest(std::span<const RateLimitDecision> decisions);

}  // namespace turnpike::proxy::policy
