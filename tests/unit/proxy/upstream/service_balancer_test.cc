#include "proxy/upstream/service_balancer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/unit/proxy/allocation_counter.h"

namespace turnpike::proxy::upstream {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// A CompiledService with the model::Service it points to (def), kept at a stable address.
struct TestService {
  model::Service def;
  CompiledService compiled;
};

std::unique_ptr<TestService> makeService(
    std::vector<std::pair<std::string, int>> targets,
    model::LoadBalancing lb = model::LoadBalancing::kRoundRobin,
    std::optional<model::HealthCheck> health_check = std::nullopt) {
  auto s = std::make_unique<TestService>();
  s->def.id = "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a01";
  s->def.name = "svc";
  s->def.load_balancing = lb;
  s->def.health_check = health_check;
  for (auto& [url, weight] : targets) s->def.targets.push_back({url, weight});
  s->compiled.def = &s->def;
  s->compiled.load_balancing = lb;
  for (const model::Target& t : s->def.targets) {
    auto parsed = UpstreamTarget::parse(t);
    EXPECT_TRUE(parsed.ok()) << t.url;
    s->compiled.total_weight += parsed->weight;
    s->compiled.targets.push_back(*parsed);
  }
  return s;
}

std::vector<std::pair<std::string, int>> urls(int n, int weight = 100) {
  std::vector<std::pair<std::string, int>> out;
  for (int i = 0; i < n; ++i) out.emplace_back("http://10.0.0." + std::to_string(i + 1), weight);
  return out;
}

const Clock::time_point kT0 = Clock::time_point{} + std::chrono::hours(1);

// The url picked, or "-" for nullopt.
std::string pickUrl(ServiceBalancer& b, std::string_view key, Clock::time_point now,
                    uint64_t exclude = 0) {
  std::optional<std::size_t> t = b.pick(key, now, exclude);
  return t ? b.target(*t).url : "-";
}

void failTimes(ServiceBalancer& b, std::size_t target, int n, Clock::time_point now) {
  for (int i = 0; i < n; ++i) b.reportFailure(target, now);
}

// --- round robin ----------------------------------------------------------------------------

TEST(ServiceBalancerRoundRobin, ExactWeightedDistribution) {
  auto s = makeService({{"http://a", 100}, {"http://b", 200}, {"http://c", 700}});
  ServiceBalancer b(s->compiled);
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 1000; ++i) ++counts[*b.pick("", kT0)];
  EXPECT_EQ(counts[0], 100);
  EXPECT_EQ(counts[1], 200);
  EXPECT_EQ(counts[2], 700);
}

TEST(ServiceBalancerRoundRobin, SequenceIsInterleaved) {
  auto s = makeService({{"http://a", 100}, {"http://b", 200}, {"http://c", 700}});
  ServiceBalancer b(s->compiled);
  std::string seq;
  for (int i = 0; i < 1000; ++i) seq += static_cast<char>('A' + *b.pick("", kT0));
  EXPECT_EQ(seq.substr(0, 10), "CBCCACCBCC");
  // Every window of 10 picks already holds the exact 1/2/7 ratio; C never runs more than 3 times.
  for (std::size_t w = 0; w < seq.size(); w += 10) {
    std::string window = seq.substr(w, 10);
    EXPECT_EQ(std::count(window.begin(), window.end(), 'A'), 1) << window;
    EXPECT_EQ(std::count(window.begin(), window.end(), 'B'), 2) << window;
  }
  EXPECT_EQ(seq.find("CCCC"), std::string::npos);
}

TEST(ServiceBalancerRoundRobin, EqualWeightsRotate) {
  auto s = makeService(urls(3));
  ServiceBalancer b(s->compiled);
  std::vector<std::size_t> seq;
  for (int i = 0; i < 6; ++i) seq.push_back(*b.pick("", kT0));
  EXPECT_EQ(seq, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(ServiceBalancerRoundRobin, WeightZeroIsNeverPicked) {
  auto s = makeService({{"http://a", 0}, {"http://b", 1}, {"http://c", 1000}});
  ServiceBalancer b(s->compiled);
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 5005; ++i) ++counts[*b.pick("", kT0)];
  EXPECT_EQ(counts[0], 0);
  EXPECT_EQ(counts[1], 5);
  EXPECT_EQ(counts[2], 5000);
}

TEST(ServiceBalancerRoundRobin, AllWeightZeroIsUnavailable) {
  auto s = makeService({{"http://a", 0}, {"http://b", 0}});
  ServiceBalancer b(s->compiled);
  EXPECT_EQ(b.pick("", kT0), std::nullopt);
}

TEST(ServiceBalancerRoundRobin, ExcludeMaskPicksAnotherTargetForRetries) {
  auto s = makeService(urls(3));
  ServiceBalancer b(s->compiled);
  uint64_t tried = 0;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::optional<std::size_t> t = b.pick("", kT0, tried);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ((tried >> *t) & 1U, 0U) << "target " << *t << " picked twice";
    tried |= uint64_t{1} << *t;
  }
  // Everything usable was tried: no going back to an excluded target.
  EXPECT_EQ(b.pick("", kT0, tried), std::nullopt);
}

TEST(ServiceBalancerRoundRobin, ExcludeOnlyCountsUsableTargets) {
  auto s = makeService(urls(2));
  ServiceBalancer b(s->compiled);
  failTimes(b, 1, 3, kT0);                         // target 1 ejected
  EXPECT_EQ(b.pick("", kT0, 0b01), std::nullopt);  // 0 was tried, 1 is ejected
}

TEST(ServiceBalancerRoundRobin, TargetsPast63CannotBeExcluded) {
  auto s = makeService(urls(70));
  ServiceBalancer b(s->compiled);
  uint64_t all = ~uint64_t{0};
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 60; ++i) ++counts[*b.pick("", kT0, all)];
  for (const auto& [target, n] : counts) EXPECT_GE(target, 64U);
  EXPECT_EQ(counts.size(), 6U);
}

// --- least connections ----------------------------------------------------------------------

TEST(ServiceBalancerLeastConnections, PrefersTheIdleTarget) {
  auto s = makeService(urls(3), model::LoadBalancing::kLeastConnections);
  ServiceBalancer b(s->compiled);
  for (int i = 0; i < 5; ++i) b.onRequestStart(0);
  b.onRequestStart(2);
  EXPECT_EQ(b.pick("", kT0), 1U);
  b.onRequestStart(1);
  b.onRequestStart(1);
  EXPECT_EQ(b.pick("", kT0), 2U);  // 5 / 2 / 1 in flight
  for (int i = 0; i < 5; ++i) b.onRequestEnd(0);
  EXPECT_EQ(b.pick("", kT0), 0U);
}

TEST(ServiceBalancerLeastConnections, RespectsWeights) {
  auto s =
      makeService({{"http://a", 100}, {"http://b", 300}}, model::LoadBalancing::kLeastConnections);
  ServiceBalancer b(s->compiled);
  for (int i = 0; i < 400; ++i) b.onRequestStart(*b.pick("", kT0));
  auto h = b.health(kT0);
  EXPECT_EQ(h[0].in_flight, 100U);
  EXPECT_EQ(h[1].in_flight, 300U);
}

TEST(ServiceBalancerLeastConnections, EqualLoadsRotate) {
  auto s = makeService(urls(3), model::LoadBalancing::kLeastConnections);
  ServiceBalancer b(s->compiled);
  // Requests that end before the next pick: loads stay equal (0), the choice still rotates.
  std::vector<std::size_t> seq;
  for (int i = 0; i < 6; ++i) {
    std::size_t t = *b.pick("", kT0);
    b.onRequestStart(t);
    b.onRequestEnd(t);
    seq.push_back(t);
  }
  EXPECT_EQ(seq, (std::vector<std::size_t>{0, 1, 2, 0, 1, 2}));
}

TEST(ServiceBalancerLeastConnections, SkipsUnusableAndExcludedTargets) {
  auto s = makeService({{"http://a", 100}, {"http://b", 0}, {"http://c", 100}},
                       model::LoadBalancing::kLeastConnections);
  ServiceBalancer b(s->compiled);
  b.onRequestStart(0);
  EXPECT_EQ(b.pick("", kT0), 2U);  // b is idle but has weight 0
  EXPECT_EQ(b.pick("", kT0, 0b100), 0U);
  b.setActiveHealth("http://a", false);
  EXPECT_EQ(b.pick("", kT0, 0b100), std::nullopt);
}

TEST(ServiceBalancerLeastConnections, InFlightNeverGoesNegative) {
  auto s = makeService(urls(2), model::LoadBalancing::kLeastConnections);
  ServiceBalancer b(s->compiled);
  b.onRequestEnd(0);
  b.onRequestEnd(7);  // out of range: ignored
  b.onRequestStart(1);
  EXPECT_EQ(b.health(kT0)[0].in_flight, 0U);
  EXPECT_EQ(b.pick("", kT0), 0U);
}

// --- consistent hash ------------------------------------------------------------------------

std::vector<std::string> keys(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back("192.168." + std::to_string(i / 250) + "." + std::to_string(i % 250));
  return out;
}

std::map<std::string, std::string> mapKeys(ServiceBalancer& b, const std::vector<std::string>& ks,
                                           Clock::time_point now) {
  std::map<std::string, std::string> out;
  for (const std::string& k : ks) out[k] = pickUrl(b, k, now);
  return out;
}

TEST(ServiceBalancerConsistentHash, SameKeySameTarget) {
  auto s = makeService(urls(5), model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(s->compiled);
  ServiceBalancer other(s->compiled);  // another worker: same mapping
  for (const std::string& k : keys(200)) {
    std::string first = pickUrl(b, k, kT0);
    for (int i = 0; i < 3; ++i) EXPECT_EQ(pickUrl(b, k, kT0), first);
    EXPECT_EQ(pickUrl(other, k, kT0), first);
  }
}

TEST(ServiceBalancerConsistentHash, MappingIsPinnedAndEven) {
  // The hash is FNV-1a 64 + fmix64, not std::hash: every build and every process maps a key to
  // the same target (values computed independently from the documented algorithm).
  auto s = makeService(urls(4), model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(s->compiled);
  const std::vector<std::pair<std::string, std::string>> golden = {
      {"alice", "http://10.0.0.4"},    {"bob", "http://10.0.0.4"},
      {"carol", "http://10.0.0.3"},    {"dave", "http://10.0.0.1"},
      {"10.1.2.3", "http://10.0.0.4"}, {"consumer-42", "http://10.0.0.1"},
      {"x", "http://10.0.0.3"}};
  for (const auto& [key, url] : golden) EXPECT_EQ(pickUrl(b, key, kT0), url) << key;

  std::map<std::string, int> spread;
  for (const std::string& k : keys(4000)) ++spread[pickUrl(b, k, kT0)];
  EXPECT_EQ(spread, (std::map<std::string, int>{{"http://10.0.0.1", 1058},
                                                {"http://10.0.0.2", 989},
                                                {"http://10.0.0.3", 1006},
                                                {"http://10.0.0.4", 947}}));
}

TEST(ServiceBalancerConsistentHash, RemovingOneOfTenMovesAboutATenth) {
  const std::vector<std::string> ks = keys(10000);
  auto before_service = makeService(urls(10), model::LoadBalancing::kConsistentHash);
  auto remaining = urls(10);
  const std::string removed = remaining[3].first;
  remaining.erase(remaining.begin() + 3);
  auto after_service = makeService(remaining, model::LoadBalancing::kConsistentHash);

  ServiceBalancer b(before_service->compiled);
  auto before = mapKeys(b, ks, kT0);
  b.update(after_service->compiled);
  auto after = mapKeys(b, ks, kT0);

  int moved = 0;
  for (const std::string& k : ks) {
    if (before[k] != after[k]) {
      ++moved;
      EXPECT_EQ(before[k], removed) << k << " moved though its target stayed";
    } else {
      EXPECT_NE(before[k], removed);
    }
  }
  EXPECT_GT(moved, 600);  // 1000 expected
  EXPECT_LT(moved, 1400);
}

TEST(ServiceBalancerConsistentHash, AddingATargetOnlyTakesKeysForIt) {
  const std::vector<std::string> ks = keys(10000);
  auto four = makeService(urls(4), model::LoadBalancing::kConsistentHash);
  auto five = makeService(urls(5), model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(four->compiled);
  auto before = mapKeys(b, ks, kT0);
  b.update(five->compiled);
  auto after = mapKeys(b, ks, kT0);
  int moved = 0;
  for (const std::string& k : ks) {
    if (before[k] != after[k]) {
      ++moved;
      EXPECT_EQ(after[k], urls(5)[4].first);
    }
  }
  EXPECT_GT(moved, 1400);  // 2000 expected
  EXPECT_LT(moved, 2600);
}

TEST(ServiceBalancerConsistentHash, EjectedTargetsKeysMoveAndComeBack) {
  const std::vector<std::string> ks = keys(2000);
  auto s = makeService(urls(5), model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(s->compiled);
  auto before = mapKeys(b, ks, kT0);
  const std::size_t victim = 2;
  const std::string& victim_url = s->compiled.targets[victim].url;
  failTimes(b, victim, 3, kT0);

  auto during = mapKeys(b, ks, kT0 + milliseconds(500));
  int moved = 0;
  std::map<std::string, int> receivers;
  for (const std::string& k : ks) {
    EXPECT_NE(during[k], victim_url);
    if (before[k] == victim_url) {
      ++moved;
      ++receivers[during[k]];
    } else {
      EXPECT_EQ(during[k], before[k]) << "only the ejected target's keys move";
    }
  }
  EXPECT_GT(moved, 0);
  EXPECT_GE(receivers.size(), 3U) << "keys spread over the ring neighbours";

  EXPECT_EQ(mapKeys(b, ks, kT0 + seconds(1)), before) << "recovered: keys come back";
}

TEST(ServiceBalancerConsistentHash, RetryWalksToTheNextTarget) {
  auto s = makeService(urls(3), model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(s->compiled);
  std::size_t first = *b.pick("client-1", kT0);
  uint64_t tried = uint64_t{1} << first;
  std::optional<std::size_t> second = b.pick("client-1", kT0, tried);
  ASSERT_TRUE(second.has_value());
  EXPECT_NE(*second, first);
  EXPECT_EQ(b.pick("client-1", kT0, tried), second) << "the retry target is stable too";
  tried |= uint64_t{1} << *second;
  std::optional<std::size_t> third = b.pick("client-1", kT0, tried);
  ASSERT_TRUE(third.has_value());
  EXPECT_EQ(b.pick("client-1", kT0, tried | (uint64_t{1} << *third)), std::nullopt);
}

TEST(ServiceBalancerConsistentHash, WeightScalesShareAndZeroGetsNone) {
  auto s = makeService({{"http://a", 100}, {"http://b", 300}, {"http://c", 0}},
                       model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(s->compiled);
  std::map<std::string, int> spread;
  for (const std::string& k : keys(10000)) ++spread[pickUrl(b, k, kT0)];
  EXPECT_EQ(spread.count("http://c"), 0U);
  EXPECT_GT(spread["http://b"], 6500);  // 7500 expected
  EXPECT_LT(spread["http://b"], 8500);
}

TEST(ServiceBalancerConsistentHash, EmptyKeyFallsBackToRoundRobin) {
  auto s =
      makeService({{"http://a", 100}, {"http://b", 300}}, model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(s->compiled);
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 400; ++i) ++counts[*b.pick("", kT0)];
  EXPECT_EQ(counts[0], 100);
  EXPECT_EQ(counts[1], 300);
}

// --- passive health -------------------------------------------------------------------------

TEST(ServiceBalancerPassiveHealth, EjectsAfterConsecutiveFailures) {
  auto s = makeService(urls(2));
  ServiceBalancer b(s->compiled);
  failTimes(b, 0, 2, kT0);
  EXPECT_TRUE(b.health(kT0)[0].healthy);
  b.reportFailure(0, kT0);
  auto h = b.health(kT0);
  EXPECT_FALSE(h[0].healthy);
  EXPECT_TRUE(h[0].ejected);
  EXPECT_FALSE(h[0].active_down);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.pick("", kT0), 1U);
}

TEST(ServiceBalancerPassiveHealth, UsesTheServiceHealthCheckThreshold) {
  model::HealthCheck hc;
  hc.unhealthy_after = 1;
  auto s = makeService(urls(2), model::LoadBalancing::kRoundRobin, hc);
  ServiceBalancer b(s->compiled);
  b.reportFailure(0, kT0);
  EXPECT_TRUE(b.health(kT0)[0].ejected);

  hc.unhealthy_after = 5;
  auto s5 = makeService(urls(2), model::LoadBalancing::kRoundRobin, hc);
  ServiceBalancer b5(s5->compiled);
  failTimes(b5, 0, 4, kT0);
  EXPECT_FALSE(b5.health(kT0)[0].ejected);
  b5.reportFailure(0, kT0);
  EXPECT_TRUE(b5.health(kT0)[0].ejected);
}

TEST(ServiceBalancerPassiveHealth, BackOffExpiresAfterOneSecond) {
  auto s = makeService(urls(2));
  ServiceBalancer b(s->compiled);
  failTimes(b, 0, 3, kT0);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b.pick("", kT0 + milliseconds(999)), 1U);
  EXPECT_TRUE(b.health(kT0 + milliseconds(999))[0].ejected);
  EXPECT_TRUE(b.health(kT0 + seconds(1))[0].healthy);
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 10; ++i) ++counts[*b.pick("", kT0 + seconds(1))];
  EXPECT_GE(counts[0], 4);
}

TEST(ServiceBalancerPassiveHealth, HalfOpenFailureReEjectsWithDoublingBackOff) {
  auto s = makeService(urls(2));
  ServiceBalancer b(s->compiled);
  Clock::time_point t = kT0;
  failTimes(b, 0, 3, t);
  const std::vector<int> expected_ms = {1000, 2000, 4000, 8000, 16000, 30000, 30000};
  for (std::size_t round = 0; round < expected_ms.size(); ++round) {
    milliseconds backoff(expected_ms[round]);
    EXPECT_TRUE(b.health(t + backoff - milliseconds(1))[0].ejected) << "round " << round;
    EXPECT_FALSE(b.health(t + backoff)[0].ejected) << "round " << round;
    t += backoff;
    b.reportFailure(0, t);  // half-open: one failure is enough
  }
}

TEST(ServiceBalancerPassiveHealth, FailuresWhileEjectedAreIgnored) {
  auto s = makeService(urls(2));
  ServiceBalancer b(s->compiled);
  failTimes(b, 0, 3, kT0);
  failTimes(b, 0, 10, kT0 + milliseconds(500));  // late in-flight failures
  EXPECT_FALSE(b.health(kT0 + seconds(1))[0].ejected);
}

TEST(ServiceBalancerPassiveHealth, SuccessResetsTheCount) {
  auto s = makeService(urls(2));
  ServiceBalancer b(s->compiled);
  failTimes(b, 0, 2, kT0);
  b.reportSuccess(0);
  failTimes(b, 0, 2, kT0);
  EXPECT_TRUE(b.health(kT0)[0].healthy);
  b.reportFailure(0, kT0);
  EXPECT_TRUE(b.health(kT0)[0].ejected);
}

TEST(ServiceBalancerPassiveHealth, SuccessAfterRecoveryResetsBackOff) {
  auto s = makeService(urls(2));
  ServiceBalancer b(s->compiled);
  failTimes(b, 0, 3, kT0);               // 1 s
  b.reportFailure(0, kT0 + seconds(1));  // half-open failure: 2 s
  const Clock::time_point back = kT0 + seconds(3);
  EXPECT_FALSE(b.health(back)[0].ejected);
  b.reportSuccess(0);
  b.reportFailure(0, back);
  EXPECT_FALSE(b.health(back)[0].ejected) << "no longer half-open: needs 3 failures again";
  failTimes(b, 0, 2, back);
  EXPECT_TRUE(b.health(back + milliseconds(999))[0].ejected);
  EXPECT_FALSE(b.health(back + seconds(1))[0].ejected) << "back-off starts at 1 s again";
}

TEST(ServiceBalancerPassiveHealth, AllEjectedIsUnavailable) {
  auto s = makeService(urls(2), model::LoadBalancing::kLeastConnections);
  ServiceBalancer b(s->compiled);
  failTimes(b, 0, 3, kT0);
  failTimes(b, 1, 3, kT0);
  EXPECT_EQ(b.pick("", kT0), std::nullopt);
  EXPECT_TRUE(b.pick("", kT0 + seconds(1)).has_value());
}

// --- active health --------------------------------------------------------------------------

TEST(ServiceBalancerActiveHealth, DownTargetGetsNoTrafficUntilUp) {
  auto s = makeService(urls(3));
  ServiceBalancer b(s->compiled);
  b.setActiveHealth("http://10.0.0.2", false);
  b.setActiveHealth("http://10.0.0.99", false);  // unknown: ignored
  auto h = b.health(kT0);
  EXPECT_TRUE(h[1].active_down);
  EXPECT_FALSE(h[1].healthy);
  EXPECT_FALSE(h[1].ejected);
  for (int i = 0; i < 30; ++i) EXPECT_NE(b.pick("", kT0), 1U);
  b.setActiveHealth("http://10.0.0.2", true);
  EXPECT_TRUE(b.health(kT0)[1].healthy);
  std::map<std::size_t, int> counts;
  for (int i = 0; i < 30; ++i) ++counts[*b.pick("", kT0)];
  EXPECT_NEAR(counts[1], 10, 1);
}

TEST(ServiceBalancerActiveHealth, AllDownIsUnavailable) {
  auto s = makeService(urls(2), model::LoadBalancing::kConsistentHash);
  ServiceBalancer b(s->compiled);
  b.setActiveHealth("http://10.0.0.1", false);
  b.setActiveHealth("http://10.0.0.2", false);
  EXPECT_EQ(b.pick("client", kT0), std::nullopt);
  EXPECT_EQ(b.pick("", kT0), std::nullopt);
  b.setActiveHealth("http://10.0.0.1", true);
  EXPECT_EQ(b.pick("client", kT0), 0U);
}

// --- update ---------------------------------------------------------------------------------

TEST(ServiceBalancerUpdate, KeepsStateOfSameUrlsAndDropsRemovedOnes) {
  auto v1 = makeService({{"http://a", 100}, {"http://b", 100}, {"http://c", 100}});
  ServiceBalancer b(v1->compiled);
  b.onRequestStart(0);
  b.onRequestStart(0);
  failTimes(b, 1, 3, kT0);               // b ejected
  b.setActiveHealth("http://c", false);  // c down
  failTimes(b, 0, 2, kT0);               // a: two failures so far

  // Reordered, b removed, d added.
  auto v2 = makeService({{"http://c", 100}, {"http://d", 100}, {"http://a", 100}});
  b.update(v2->compiled);
  ASSERT_EQ(b.targets().size(), 3U);
  EXPECT_EQ(b.target(1).url, "http://d");
  auto h = b.health(kT0);
  ASSERT_EQ(h.size(), 3U);
  EXPECT_EQ(h[0].url, "http://c");
  EXPECT_TRUE(h[0].active_down);
  EXPECT_EQ(h[1].url, "http://d");
  EXPECT_TRUE(h[1].healthy);
  EXPECT_EQ(h[1].in_flight, 0U);
  EXPECT_EQ(h[2].url, "http://a");
  EXPECT_EQ(h[2].in_flight, 2U);
  EXPECT_EQ(b.indexOf("http://a"), 2U);
  EXPECT_EQ(b.indexOf("http://b"), std::nullopt);
  b.reportFailure(2, kT0);  // a's third consecutive failure
  EXPECT_TRUE(b.health(kT0)[2].ejected);

  // b comes back: fresh state, not ejected.
  auto v3 = makeService({{"http://a", 100}, {"http://b", 100}});
  b.update(v3->compiled);
  h = b.health(kT0);
  EXPECT_TRUE(h[0].ejected);
  EXPECT_TRUE(h[1].healthy);
  EXPECT_EQ(b.pick("", kT0), 1U);
}

TEST(ServiceBalancerUpdate, RoundRobinSequenceContinuesAcrossUpdates) {
  auto targets = std::vector<std::pair<std::string, int>>{
      {"http://a", 100}, {"http://b", 200}, {"http://c", 700}};
  auto reference_service = makeService(targets);
  ServiceBalancer reference(reference_service->compiled);

  std::vector<std::unique_ptr<TestService>> versions;
  versions.push_back(makeService(targets));
  ServiceBalancer b(versions.back()->compiled);
  for (int i = 0; i < 1000; ++i) {
    if (i % 7 == 6) {
      versions.push_back(makeService(targets));  // a new snapshot, same service
      b.update(versions.back()->compiled);
    }
    ASSERT_EQ(b.pick("", kT0), reference.pick("", kT0)) << "pick " << i;
  }
}

TEST(ServiceBalancerUpdate, WeightChangeTakesEffect) {
  auto v1 = makeService({{"http://a", 100}, {"http://b", 100}});
  ServiceBalancer b(v1->compiled);
  auto v2 = makeService({{"http://a", 0}, {"http://b", 100}});
  b.update(v2->compiled);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(b.pick("", kT0), 1U);
  auto v3 =
      makeService({{"http://a", 100}, {"http://b", 100}}, model::LoadBalancing::kLeastConnections);
  b.update(v3->compiled);
  b.onRequestStart(1);
  EXPECT_EQ(b.pick("", kT0), 0U);
}

// --- allocation -----------------------------------------------------------------------------

TEST(ServiceBalancerAllocation, PickDoesNotAllocate) {
  for (auto lb : {model::LoadBalancing::kRoundRobin, model::LoadBalancing::kLeastConnections,
                  model::LoadBalancing::kConsistentHash}) {
    auto s = makeService(urls(8), lb);
    ServiceBalancer b(s->compiled);
    failTimes(b, 3, 3, kT0);
    b.setActiveHealth("http://10.0.0.5", false);
    const std::vector<std::string> ks = keys(100);
    int allocations = testing::countAllocations([&] {
      for (int i = 0; i < 100; ++i) {
        std::optional<std::size_t> t = b.pick(ks[i], kT0, 0b1);
        if (t) b.onRequestStart(*t);
        if (t) b.reportSuccess(*t);
        (void)b.pick("", kT0);
      }
    });
    EXPECT_EQ(allocations, 0) << model::toString(lb);
  }
}

}  // namespace
}  // namespace turnpike::proxy::upstream
