#include "proxy/upstream/service_balancer.h"

#include <algorithm>
#include <limits>
#include <utility>

namespace turnpike::proxy::upstream {

namespace {

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

uint64_t fnv1a64(std::string_view text) {
  uint64_t h = kFnvOffset;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  return h;
}

// MurmurHash3's 64-bit finalizer: FNV-1a alone mixes the last bytes of short keys poorly into the
// high bits, which decide the ring position.
uint64_t fmix64(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t hashKey(std::string_view key) { return fmix64(fnv1a64(key)); }

uint64_t hashPoint(uint64_t url_hash, uint32_t node) {
  return fmix64(url_hash + (static_cast<uint64_t>(node) + 1) * kGolden);
}

bool excluded(std::size_t i, uint64_t exclude) {
  return i < ServiceBalancer::kMaxExcludable && ((exclude >> i) & 1U) != 0;
}

uint32_t unhealthyAfterOf(const CompiledService& service) {
  if (service.def != nullptr && service.def->health_check &&
      service.def->health_check->unhealthy_after >= 1) {
    return static_cast<uint32_t>(service.def->health_check->unhealthy_after);
  }
  return ServiceBalancer::kDefaultUnhealthyAfter;
}

}  // namespace

ServiceBalancer::ServiceBalancer(const CompiledService& service) { update(service); }

void ServiceBalancer::update(const CompiledService& service) {
  std::vector<TargetState> next(service.targets.size());
  std::vector<bool> taken(targets_.size(), false);
  for (std::size_t i = 0; i < next.size(); ++i) {
    const UpstreamTarget& target = service.targets[i];
    for (std::size_t j = 0; j < targets_.size(); ++j) {
      if (!taken[j] && targets_[j].url == target.url) {
        next[i] = std::move(targets_[j]);
        taken[j] = true;
        break;
      }
    }
    next[i].url = target.url;
    next[i].weight = std::max(target.weight, 0);
  }
  targets_ = std::move(next);
  target_defs_ = service.targets;
  ++generation_;
  load_balancing_ = service.load_balancing;
  unhealthy_after_ = unhealthyAfterOf(service);
  rebuildRing();
}

void ServiceBalancer::rebuildRing() {
  ring_.clear();
  std::size_t points = 0;
  for (const TargetState& t : targets_) {
    points += (static_cast<std::size_t>(t.weight) * kVirtualNodesPerWeight100 + 99) / 100;
  }
  ring_.reserve(points);
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    const TargetState& t = targets_[i];
    uint32_t nodes = static_cast<uint32_t>(
        (static_cast<std::size_t>(t.weight) * kVirtualNodesPerWeight100 + 99) / 100);
    uint64_t url_hash = fnv1a64(t.url);
    for (uint32_t node = 0; node < nodes; ++node) {
      ring_.push_back({hashPoint(url_hash, node), static_cast<uint32_t>(i)});
    }
  }
  // Ties between different targets (a 64-bit collision) are broken by index: negligible.
  std::sort(ring_.begin(), ring_.end(), [](const RingPoint& a, const RingPoint& b) {
    return a.hash != b.hash ? a.hash < b.hash : a.target < b.target;
  });
}

bool ServiceBalancer::usable(std::size_t i, Clock::time_point now, uint64_t exclude) const {
  const TargetState& t = targets_[i];
  return t.weight > 0 && !t.active_down && now >= t.ejected_until && !excluded(i, exclude);
}

template <class Eligible>
std::optional<std::size_t> ServiceBalancer::pickSmoothWrr(Eligible eligible) {
  std::optional<std::size_t> best;
  int64_t total = 0;
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (!eligible(i)) continue;
    TargetState& t = targets_[i];
    t.current_weight += t.weight;
    total += t.weight;
    if (!best || t.current_weight > targets_[*best].current_weight) best = i;
  }
  if (best) targets_[*best].current_weight -= total;
  return best;
}

std::optional<std::size_t> ServiceBalancer::pickLeastConnections(Clock::time_point now,
                                                                 uint64_t exclude) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (!usable(i, now, exclude)) continue;
    if (!best || static_cast<uint64_t>(targets_[i].in_flight) * targets_[*best].weight <
                     static_cast<uint64_t>(targets_[*best].in_flight) * targets_[i].weight) {
      best = i;
    }
  }
  if (!best) return std::nullopt;
  const uint64_t best_in_flight = targets_[*best].in_flight;
  const uint64_t best_weight = static_cast<uint64_t>(targets_[*best].weight);
  return pickSmoothWrr([&](std::size_t i) {
    return usable(i, now, exclude) &&
           targets_[i].in_flight * best_weight ==
               best_in_flight * static_cast<uint64_t>(targets_[i].weight);
  });
}

std::optional<std::size_t> ServiceBalancer::pickConsistentHash(std::string_view hash_key,
                                                               Clock::time_point now,
                                                               uint64_t exclude) const {
  bool any = false;
  for (std::size_t i = 0; i < targets_.size() && !any; ++i) any = usable(i, now, exclude);
  if (!any) return std::nullopt;  // also spares a full walk of the ring

  const uint64_t h = hashKey(hash_key);
  auto it = std::lower_bound(ring_.begin(), ring_.end(), h,
                             [](const RingPoint& p, uint64_t value) { return p.hash < value; });
  std::size_t pos = static_cast<std::size_t>(it - ring_.begin());
  for (std::size_t step = 0; step < ring_.size(); ++step, ++pos) {
    if (pos == ring_.size()) pos = 0;
    if (usable(ring_[pos].target, now, exclude)) return ring_[pos].target;
  }
  return std::nullopt;
}

std::optional<std::size_t> ServiceBalancer::pick(std::string_view hash_key, Clock::time_point now,
                                                 uint64_t exclude) {
  switch (load_balancing_) {
    case model::LoadBalancing::kConsistentHash:
      if (!hash_key.empty()) return pickConsistentHash(hash_key, now, exclude);
      break;
    case model::LoadBalancing::kLeastConnections:
      return pickLeastConnections(now, exclude);
    case model::LoadBalancing::kRoundRobin:
      break;
  }
  return pickSmoothWrr([&](std::size_t i) { return usable(i, now, exclude); });
}

void ServiceBalancer::onRequestStart(std::size_t target) {
  if (target < targets_.size()) ++targets_[target].in_flight;
}

void ServiceBalancer::onRequestEnd(std::size_t target) {
  if (target < targets_.size() && targets_[target].in_flight > 0) --targets_[target].in_flight;
}

void ServiceBalancer::reportSuccess(std::size_t target) {
  if (target >= targets_.size()) return;
  TargetState& t = targets_[target];
  t.consecutive_failures = 0;
  t.ejections = 0;
  t.half_open = false;
}

void ServiceBalancer::reportFailure(std::size_t target, Clock::time_point now) {
  if (target >= targets_.size()) return;
  TargetState& t = targets_[target];
  if (now < t.ejected_until) return;  // already ejected: late reports of in-flight requests
  if (t.half_open || ++t.consecutive_failures >= unhealthy_after_) eject(t, now);
}

void ServiceBalancer::eject(TargetState& state, Clock::time_point now) {
  std::chrono::milliseconds backoff = kBaseEjection;
  for (uint32_t i = 0; i < state.ejections && backoff < kMaxEjection; ++i) backoff *= 2;
  backoff = std::min(backoff, kMaxEjection);
  state.ejected_until = now + backoff;
  if (state.ejections < std::numeric_limits<uint32_t>::max()) ++state.ejections;
  state.consecutive_failures = 0;
  state.half_open = true;
}

void ServiceBalancer::setActiveHealth(std::string_view url, bool healthy) {
  for (TargetState& t : targets_) {
    if (t.url == url) t.active_down = !healthy;
  }
}

std::optional<std::size_t> ServiceBalancer::indexOf(std::string_view url) const {
  for (std::size_t i = 0; i < targets_.size(); ++i) {
    if (targets_[i].url == url) return i;
  }
  return std::nullopt;
}

std::vector<ServiceBalancer::TargetHealth> ServiceBalancer::health(Clock::time_point now) const {
  std::vector<TargetHealth> out;
  out.reserve(targets_.size());
  for (const TargetState& t : targets_) {
    bool ejected = now < t.ejected_until;
    out.push_back({t.url, !ejected && !t.active_down, ejected, t.active_down, t.in_flight});
  }
  return out;
}

}  // namespace turnpike::proxy::upstream
