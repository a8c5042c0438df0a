// ServiceBalancer: picks the upstream target of one service for one proxy worker, and keeps the
// per-target state that the choice depends on: in-flight counts, passive health (ejections),
// active health marks and the smooth-WRR current weights.
//
//   ServiceBalancer& balancer = balancers[service.id()];   // one per service id, per worker
//   if (&balancer.service() != &service) balancer.update(service);  // a newer snapshot
//   std::optional<std::size_t> t = balancer.pick(hash_key, Clock::now(), tried);
//   if (!t) return serviceUnavailable();                  // 503: no usable target
//   balancer.onRequestStart(*t);
//   ... connect / forward ...
//   ok ? balancer.reportSuccess(*t) : balancer.reportFailure(*t, Clock::now());
//   balancer.onRequestEnd(*t);
//
// USABLE TARGET. A target takes traffic when its weight is > 0, no active check marked it down,
// it is not ejected by passive health (now >= end of its back-off), and its bit is not set in the
// `exclude` mask of pick(). Only indexes 0..63 can be excluded (kMaxExcludable); targets past 63
// are always eligible for a retry.
//
// ALGORITHMS (model::LoadBalancing), n = number of targets:
//  - kRoundRobin: nginx's smooth weighted round robin. Each pick adds its weight to the current
//    weight of every usable target, chooses the largest current (first index on ties) and
//    subtracts the total usable weight from it. Over any sum-of-weights picks with a fixed usable
//    set, each target is chosen exactly weight times, spread out (weights 1/2/7 for A/B/C give
//    C B C C A C C B C C, never A B B C C C C C C C). O(n).
//  - kLeastConnections: the usable target with the fewest in-flight requests relative to its
//    weight (in_flight_a * weight_b < in_flight_b * weight_a); ties are broken by smooth WRR
//    among the tied targets, so equal loads still rotate. O(n).
//  - kConsistentHash: a hash ring of ceil(160 * weight / 100) virtual nodes per target (160 for
//    the default weight 100, none for weight 0). Points and keys are hashed with FNV-1a 64
//    followed by MurmurHash3's fmix64 finalizer (stable across builds and platforms, unlike
//    std::hash). A point's hash depends only on the target's url and the node number, so the
//    ring of unchanged targets survives update(): removing one of n targets moves only the keys
//    that were on it (about 1/n). A key maps to the first point at or after its hash (binary
//    search, O(log points)); when that target is not usable the walk continues clockwise to the
//    next usable one (expected O(points / usable points)), so an ejected target's keys spread
//    to its ring neighbours and come back when it recovers. An empty `hash_key` falls back to
//    smooth WRR.
// pick() allocates nothing.
//
// PASSIVE HEALTH. reportFailure() counts consecutive failures; `unhealthy_after` of them (the
// service's health_check->unhealthy_after, 3 when it has none) eject the target for a back-off
// of 1 s, doubled by every further ejection without a success in between, capped at 30 s
// (1, 2, 4, 8, 16, 30, 30 ... s). When the back-off expires the target is half-open: it takes
// traffic again, and its next failure ejects it at once with the doubled back-off. A success
// resets the failure count, leaves the half-open state and resets the back-off to 1 s; it does
// not end an ejection early. Failures reported while a target is ejected (requests that were
// already in flight) are ignored.
//
// ACTIVE HEALTH. setActiveHealth() records the verdict of an external checker that probes
// health_check.path (that checker applies healthy_after / unhealthy_after to its probes). A
// target marked down takes no traffic until marked up. Marks are kept per url across update().
//
// INDEXES. Target indexes are positions in service().targets of the *current* binding. After
// update() the same url may sit at another index: a request that took its index from an older
// CompiledService must translate it with indexOf(url) before reporting (an index out of range
// is ignored, and in-flight counts never go below zero).
//
// THREAD: not thread-safe; one worker thread owns a balancer and calls everything on it.
// OWNERSHIP: keeps its own copy of the targets and the balancing mode; the CompiledService it
// was made or updated from may be destroyed afterwards.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/compiled_service.h"

namespace turnpike::proxy::upstream {

using Clock = std::chrono::steady_clock;

class ServiceBalancer {
 public:
  // Targets at indexes >= kMaxExcludable cannot be excluded by pick()'s mask.
  static constexpr std::size_t kMaxExcludable = 64;
  static constexpr int kDefaultUnhealthyAfter = 3;
  static constexpr std::chrono::milliseconds kBaseEjection{1000};
  static constexpr std::chrono::milliseconds kMaxEjection{30000};
  static constexpr int kVirtualNodesPerWeight100 = 160;

  explicit ServiceBalancer(const CompiledService& service);

  // Rebinds to a newer compiled form of the same service (same id). Targets whose url is
  // unchanged keep their state (health, counters, WRR current weight), wherever they now sit in
  // the list; state of removed urls is dropped; new urls start healthy and idle. Allocates.
  void update(const CompiledService& service);
  // The targets as of the last update(), owned by the balancer (a copy: the CompiledService it
  // came from may die with its snapshot while a request still uses the balancer).
  const std::vector<UpstreamTarget>& targets() const { return target_defs_; }
  const UpstreamTarget& target(std::size_t index) const { return target_defs_[index]; }

  // A target index into service().targets, or std::nullopt when no target is usable (all
  // weight 0, ejected, marked down, or excluded) -> the proxy answers 503.
  // `hash_key`: what consistent_hash hashes (client ip, consumer id or header value); empty ->
  // smooth WRR. Ignored by the other algorithms.
  // `exclude`: bit i set = target i was already tried for this request; a retry never goes back
  // to an excluded target, even when nothing else is usable (-> nullopt).
  std::optional<std::size_t> pick(std::string_view hash_key, Clock::time_point now,
                                  uint64_t exclude = 0);

  // Least-connections bookkeeping: requests of this worker in flight per target.
  void onRequestStart(std::size_t target);
  void onRequestEnd(std::size_t target);

  // Passive health (see above). A failure is a connect failure, reset or timeout; an HTTP answer,
  // whatever its status, is a success.
  void reportSuccess(std::size_t target);
  void reportFailure(std::size_t target, Clock::time_point now);

  // Active health check verdict for the target with this url; unknown urls are ignored.
  void setActiveHealth(std::string_view url, bool healthy);

  // The index of the target with this url in service().targets, or nullopt. O(n).
  std::optional<std::size_t> indexOf(std::string_view url) const;
  // Bumped by every update(): an index picked under another generation must go through
  // indexOf() before it is reported.
  uint64_t generation() const { return generation_; }

  // For /status and metrics, in service().targets order. healthy = !ejected && !active_down
  // (a weight-0 target can be healthy; it simply takes no traffic). Allocates.
  struct TargetHealth {
    std::string url;
    bool healthy;
    bool ejected;      // passive health: inside a back-off right now
    bool active_down;  // marked down by the active checker
    uint32_t in_flight;
  };
  std::vector<TargetHealth> health(Clock::time_point now) const;

 private:
  struct TargetState {
    std::string url;
    int weight = 0;
    int64_t current_weight = 0;  // smooth WRR
    uint32_t in_flight = 0;
    uint32_t consecutive_failures = 0;
    uint32_t ejections = 0;  // ejections since the last success: sets the next back-off
    bool half_open = false;  // ejected before and not yet succeeded: next failure re-ejects
    bool active_down = false;
    Clock::time_point ejected_until = Clock::time_point::min();
  };
  struct RingPoint {
    uint64_t hash;
    uint32_t target;
  };

  bool usable(std::size_t i, Clock::time_point now, uint64_t exclude) const;
  template <class Eligible>
  std::optional<std::size_t> pickSmoothWrr(Eligible eligible);
  std::optional<std::size_t> pickLeastConnections(Clock::time_point now, uint64_t exclude);
  std::optional<std::size_t> pickConsistentHash(std::string_view hash_key, Clock::time_point now,
                                                uint64_t exclude) const;
  void eject(TargetState& state, Clock::time_point now);
  void rebuildRing();

  std::vector<UpstreamTarget> target_defs_;
  uint64_t generation_ = 0;
  model::LoadBalancing load_balancing_ = model::LoadBalancing::kRoundRobin;
  uint32_t unhealthy_after_ = kDefaultUnhealthyAfter;
  std::vector<TargetState> targets_;  // parallel to target_defs_
  std::vector<RingPoint> ring_;       // sorted by hash; only targets with weight > 0
};

}  // namespace turnpike::proxy::upstream
