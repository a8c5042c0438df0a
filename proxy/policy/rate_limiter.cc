#include "proxy/policy/rate_limiter.h"

#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

namespace turnpike::proxy::policy {
namespace {

using model::RateLimitAlgorithm;

// Wide enough for tokens × window_ns (up to 2e12 × 8.64e13) and elapsed_ns × limit.
__extension__ typedef __int128 Wide;

constexpr int64_t kNsPerS = 1'000'000'000;
// The model's ranges (model/rate_limit_policy.cc); hit() clamps into them so the arithmetic
// below cannot overflow even for an unvalidated policy.
constexpr int64_t kMaxLimit = 1'000'000'000'000;
constexpr int64_t kMaxWindowS = 86'400;
// Counters per shard. boost::unordered_flat_map holds 15 slots per group, 2^k groups, and
// rehashes at 87.5 % load, or earlier after erasures, to room for size + size/61 + 1 elements.
// At most 1,638 counters keep such a rehash within 128 groups (1,919 slots), so a full shard's
// table never doubles, and an eviction scans at most this many counters.
constexpr std::size_t kShardEntries = 1'600;

// The policy numbers one hit works with.
struct Params {
  RateLimitAlgorithm algorithm;
  int64_t limit;      // 1..kMaxLimit
  int64_t capacity;   // token_bucket: limit + burst; otherwise limit
  int64_t window_ns;  // 1 s..kMaxWindowS s
};

Params paramsOf(const model::RateLimitPolicy& policy) {
  Params p;
  p.algorithm = policy.algorithm;
  p.limit = std::clamp<int64_t>(policy.limit, 1, kMaxLimit);
  p.capacity = p.limit;
  if (p.algorithm == RateLimitAlgorithm::kTokenBucket) {
    p.capacity += std::clamp<int64_t>(policy.burst, 0, kMaxLimit);
  }
  p.window_ns = std::clamp<int64_t>(policy.window_s, 1, kMaxWindowS) * kNsPerS;
  return p;
}

// One counter (56 bytes). The meaning of start_ns and count depends on the algorithm.
struct Counter {
  int64_t last_used_ns = 0;  // the latest `now` seen; for LRU eviction and clock clamping
  int64_t expires_ns = 0;    // from then on the counter behaves exactly like a new one
  // fixed/sliding: start of the window `count` belongs to. token_bucket: time of the last refill.
  int64_t start_ns = 0;
  int64_t count = 0;     // fixed/sliding: requests counted; token_bucket: whole tokens
  int64_t previous = 0;  // sliding: requests counted in the window before start_ns
  int64_t fraction = 0;  // token_bucket: part of a token, in 1/(window_s·1e9) of a token
  int32_t window_s = 0;  // token_bucket: the window `fraction` is measured in
  RateLimitAlgorithm algorithm = RateLimitAlgorithm::kSlidingWindow;
};

Counter freshCounter(const Params& p, int64_t now_ns) {
  Counter c;
  c.last_used_ns = now_ns;
  c.expires_ns = now_ns;
  c.start_ns = now_ns;
  c.window_s = static_cast<int32_t>(p.window_ns / kNsPerS);
  c.algorithm = p.algorithm;
  if (p.algorithm == RateLimitAlgorithm::kTokenBucket) c.count = p.capacity;
  return c;
}

int64_t floorDiv(int64_t a, int64_t b) {  // REQUIRES: b > 0
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// a / b, truncated; the 128-bit division (a library call) only when an operand needs it.
Wide quotient(Wide a, Wide b) {
  constexpr Wide kMin = std::numeric_limits<int64_t>::min();
  constexpr Wide kMax = std::numeric_limits<int64_t>::max();
  if (a >= kMin && a <= kMax && b >= kMin && b <= kMax) {
    return static_cast<int64_t>(a) / static_cast<int64_t>(b);
  }
  return a / b;
}

Wide ceilDiv(Wide a, Wide b) { return a <= 0 ? 0 : quotient(a + b - 1, b); }  // REQUIRES: b > 0

int64_t ceilSeconds(Wide ns) { return static_cast<int64_t>(ceilDiv(ns, kNsPerS)); }

int64_t toInt64(Wide v) { return static_cast<int64_t>(std::max<Wide>(v, 0)); }

RateLimitDecision hitFixedWindow(Counter& c, const Params& p, int64_t now) {
  const int64_t w = p.window_ns;
  const int64_t index = floorDiv(now, w);
  // A counter that started in an earlier window (on the current grid) is spent.
  if (floorDiv(c.start_ns, w) < index) c.count = 0;
  c.start_ns = index * w;
  const int64_t end = c.start_ns + w;

  RateLimitDecision d;
  d.limit = p.limit;
  d.allowed = c.count < p.limit;
  if (d.allowed) ++c.count;
  d.remaining = toInt64(p.limit - c.count);
  d.reset_s = ceilSeconds(end - now);  // >= 1: now < end
  d.retry_after_s = d.allowed ? 0 : d.reset_s;
  c.expires_ns = c.count == 0 ? now : end;
  return d;
}

// Nanoseconds from `elapsed` into the current window until one more request passes, given the
// weighted rule previous·(W − e)/W + count + 1 <= limit.
Wide slidingWaitNs(Wide previous, Wide count, Wide limit, Wide w, Wide elapsed) {
  if (count + 1 <= limit) {
    if (previous == 0) return 0;
    // The smallest e with previous·(W − e) <= (limit − count − 1)·W.
    Wide needed = w - quotient((limit - count - 1) * w, previous);
    return needed > elapsed ? needed - elapsed : 0;
  }
  // Next window: previous' = count, count' = 0; the smallest e with count·(W − e) <= (limit − 1)·W.
  Wide needed = w - quotient((limit - 1) * w, count);
  return (w - elapsed) + needed;
}

RateLimitDecision hitSlidingWindow(Counter& c, const Params& p, int64_t now) {
  const int64_t w = p.window_ns;
  const int64_t index = floorDiv(now, w);
  const int64_t counter_index = floorDiv(c.start_ns, w);  // <= index: start_ns <= now
  if (counter_index == index - 1) {
    c.previous = c.count;
    c.count = 0;
  } else if (counter_index < index - 1) {
    c.previous = 0;
    c.count = 0;
  }
  c.start_ns = index * w;
  const int64_t elapsed = now - c.start_ns;  // 0 <= elapsed < w

  // Everything below is scaled by W so that the weighted count is an exact integer.
  const Wide limit_scaled = Wide{p.limit} * w;
  const Wide carried = Wide{c.previous} * (w - elapsed);
  RateLimitDecision d;
  d.limit = p.limit;
  d.allowed = carried + Wide{c.count + 1} * w <= limit_scaled;
  if (d.allowed) ++c.count;
  d.remaining = toInt64(quotient(limit_scaled - carried - Wide{c.count} * w, w));
  if (d.remaining > 0) {
    d.reset_s = ceilSeconds(w - elapsed);
  } else {
    d.reset_s =
        std::max<int64_t>(1, ceilSeconds(slidingWaitNs(c.previous, c.count, p.limit, w, elapsed)));
  }
  d.retry_after_s = d.allowed ? 0 : d.reset_s;
  if (c.count > 0) {
    c.expires_ns = c.start_ns + 2 * w;
  } else {
    c.expires_ns = c.previous > 0 ? c.start_ns + w : now;
  }
  return d;
}

RateLimitDecision hitTokenBucket(Counter& c, const Params& p, int64_t now) {
  // Tokens in units of 1/W token: `limit` tokens per W ns refill `limit` units per ns, exactly.
  const int64_t w = p.window_ns;
  const int64_t counter_w = int64_t{c.window_s} * kNsPerS;
  Wide tokens = Wide{c.count} * w;
  if (counter_w == w) {
    tokens += c.fraction;
  } else {  // window_s changed: keep the number of tokens, change their unit
    tokens += Wide{c.fraction} * w / counter_w;
    c.window_s = static_cast<int32_t>(w / kNsPerS);
  }
  const Wide capacity = Wide{p.capacity} * w;
  tokens = std::min(capacity, tokens + Wide{now - c.start_ns} * p.limit);
  c.start_ns = now;

  RateLimitDecision d;
  d.limit = p.capacity;
  d.allowed = tokens >= w;
  if (d.allowed) tokens -= w;
  c.count = static_cast<int64_t>(quotient(tokens, w));
  c.fraction = static_cast<int64_t>(tokens - Wide{c.count} * w);
  d.remaining = c.count;
  if (tokens < capacity) {
    const Wide missing = w - c.fraction;  // units until the next whole token
    d.reset_s = std::max<int64_t>(1, ceilSeconds(ceilDiv(missing, p.limit)));
  }
  d.retry_after_s = d.allowed ? 0 : d.reset_s;
  c.expires_ns = now + static_cast<int64_t>(ceilDiv(capacity - tokens, p.limit));
  return d;
}

// "<policy id>\0<key>" in this thread's buffer: no allocation once the buffer has grown. The view
// is valid until the thread's next call.
std::string_view combinedKey(std::string_view policy_id, std::string_view key) {
  thread_local std::string buffer;
  buffer.resize(policy_id.size() + 1 + key.size());
  char* out = buffer.data();
  std::memcpy(out, policy_id.data(), policy_id.size());
  out[policy_id.size()] = '\0';
  std::memcpy(out + policy_id.size() + 1, key.data(), key.size());
  return buffer;
}

// Map keys carry their hash, computed once per hit (it also chose the shard) and never again:
// a rehash, frequent in a shard that evicts, moves keys without rehashing their text.
struct StoredKey {
  std::size_t hash;
  std::string text;
};
struct KeyRef {
  std::size_t hash;
  std::string_view text;
};
struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(const StoredKey& k) const { return k.hash; }
  std::size_t operator()(const KeyRef& k) const { return k.hash; }
};
struct KeyEqual {
  using is_transparent = void;
  template <class A, class B>
  bool operator()(const A& a, const B& b) const {
    return a.hash == b.hash && std::string_view(a.text) == std::string_view(b.text);
  }
};

using CounterMap = boost::unordered_flat_map<StoredKey, Counter, KeyHash, KeyEqual>;

// Makes room in a full shard: drops expired counters, then, if fewer than 1/4 of `capacity` slots
// are free, the least recently used ones down to 3/4. One pass over the map, a second one (and a
// linear-time selection over `scratch`, the survivors' last-use times) only when live counters
// must go. Freeing a quarter at once halves the evictions of a flood against freeing an eighth;
// the table's memory is the same either way (its size is fixed by kShardEntries).
void evict(CounterMap& counters, std::vector<int64_t>& scratch, std::size_t capacity, int64_t now) {
  const std::size_t target = capacity - std::max<std::size_t>(1, capacity / 4);
  scratch.clear();
  int64_t oldest = std::numeric_limits<int64_t>::max();
  std::size_t oldest_count = 0;
  boost::unordered::erase_if(counters, [&](const auto& kv) {
    const Counter& c = kv.second;
    if (c.expires_ns <= now) return true;
    scratch.push_back(c.last_used_ns);
    if (c.last_used_ns < oldest) {
      oldest = c.last_used_ns;
      oldest_count = 0;
    }
    oldest_count += c.last_used_ns == oldest ? 1 : 0;
    return false;
  });
  if (counters.size() <= target) return;
  const std::size_t excess = counters.size() - target;

  // Drop every counter used before `threshold` and as many used at `threshold` as needed, so that
  // exactly `excess` go even when many share one timestamp.
  int64_t threshold = oldest;
  std::size_t ties = excess;
  if (oldest_count < excess) {
    auto nth = scratch.begin() + static_cast<std::ptrdiff_t>(excess - 1);
    std::nth_element(scratch.begin(), nth, scratch.end());
    threshold = *nth;
    ties -= static_cast<std::size_t>(
        std::count_if(scratch.begin(), nth, [threshold](int64_t t) { return t < threshold; }));
  }
  boost::unordered::erase_if(counters, [threshold, &ties](const auto& kv) {
    if (kv.second.last_used_ns < threshold) return true;
    if (kv.second.last_used_ns == threshold && ties > 0) {
      --ties;
      return true;
    }
    return false;
  });
}

}  // namespace

struct alignas(64) RateLimiter::Shard {
  std::mutex mu;
  CounterMap counters;           // GUARDED_BY(mu)
  std::vector<int64_t> scratch;  // GUARDED_BY(mu); evict()'s buffer, kept to spare an allocation
};

RateLimiter::RateLimiter(std::size_t max_entries)
    : max_entries_(std::max<std::size_t>(1, max_entries)) {
  // Enough shards that none holds more than kShardEntries; shards × shard_capacity_ never exceeds
  // max_entries_.
  shard_count_ = max_entries_ / kShardEntries + (max_entries_ % kShardEntries != 0 ? 1 : 0);
  shard_capacity_ = max_entries_ / shard_count_;
  shards_ = std::make_unique<Shard[]>(shard_count_);
}

RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::shardFor(std::size_t hash) const {
  // Multiply-shift onto [0, shard_count_), after a multiplier other than the map's own mixing
  // constant so that the keys of one shard do not crowd the same slots of its map.
  const uint64_t mixed = static_cast<uint64_t>(hash) * 0xD6E8FEB86659FD93ULL;
  __extension__ using Wide64 = unsigned __int128;
  return shards_[static_cast<std::size_t>((Wide64{mixed} * shard_count_) >> 64)];
}

RateLimitDecision RateLimiter::hit(const model::RateLimitPolicy& policy, std::string_view key,
                                   Clock::time_point now) {
  const Params p = paramsOf(policy);
  int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const std::string_view combined = combinedKey(policy.id, key);
  const std::size_t hash = std::hash<std::string_view>{}(combined);
  Shard& shard = shardFor(hash);

  std::lock_guard lock(shard.mu);
  auto it = shard.counters.find(KeyRef{hash, combined});
  if (it == shard.counters.end()) {
    if (shard.counters.size() >= shard_capacity_) {
      evict(shard.counters, shard.scratch, shard_capacity_, now_ns);
    }
    it = shard.counters.try_emplace(StoredKey{hash, std::string(combined)}, freshCounter(p, now_ns))
             .first;
  }
  Counter& counter = it->second;
  if (counter.algorithm != p.algorithm) counter = freshCounter(p, now_ns);
  // Threads read the clock before queueing on the lock; time never runs backwards for a counter.
  now_ns = std::max(now_ns, counter.last_used_ns);
  counter.last_used_ns = now_ns;
  switch (p.algorithm) {
    case RateLimitAlgorithm::kFixedWindow:
      return hitFixedWindow(counter, p, now_ns);
    case RateLimitAlgorithm::kTokenBucket:
      return hitTokenBucket(counter, p, now_ns);
    case RateLimitAlgorithm::kSlidingWindow:
      break;
  }
  return hitSlidingWindow(counter, p, now_ns);
}

std::size_t RateLimiter::size() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < shard_count_; ++i) {
    std::lock_guard lock(shards_[i].mu);
    total += shards_[i].counters.size();
  }
  return total;
}

const RateLimitDecision& tightest(std::span<const RateLimitDecision> decisions) {
  static const RateLimitDecision kNone;
  if (decisions.empty()) return kNone;
  const RateLimitDecision* best = &decisions.front();
  for (const RateLimitDecision& d : decisions.subspan(1)) {
    if (!d.allowed) {
      if (best->allowed || d.retry_after_s > best->retry_after_s) best = &d;
    } else if (best->allowed && d.remaining < best->remaining) {
      best = &d;
    }
  }
  return *best;
}

}  // namespace turnpike::proxy::policy
