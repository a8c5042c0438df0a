#include "proxy/proxy_metrics.h"

#include <gtest/gtest.h>

#include <chrono>

namespace turnpike::proxy {
namespace {

using std::chrono::microseconds;

TEST(ProxyMetricsTest, CountsByRouteAndStatusAndMergesWorkers) {
  ProxyMetrics a, b;
  a.record("orders", 200, microseconds(800), microseconds(500), true);
  a.record("orders", 200, microseconds(3000), microseconds(2000), true);
  b.record("orders", 502, microseconds(20000), microseconds(19000), true);
  b.record("", 404, microseconds(50), microseconds(0), false);
  ProxyMetrics sum;
  sum.merge(a);
  sum.merge(b);
  EXPECT_EQ(sum.totalRequests(), 4U);
  std::string text;
  sum.render(text);
  EXPECT_NE(text.find("turnpike_http_requests_total{route=\"orders\",status=\"200\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("turnpike_http_requests_total{route=\"orders\",status=\"502\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("turnpike_http_requests_total{route=\"\",status=\"404\"} 1\n"),
            std::string::npos);
  // Cumulative buckets: 0.8 ms is under 1 ms, 3 ms under 5 ms, 20 ms under 25 ms.
  EXPECT_NE(
      text.find("turnpike_request_duration_seconds_bucket{route=\"orders\",le=\"0.001\"} 1\n"),
      std::string::npos);
  EXPECT_NE(
      text.find("turnpike_request_duration_seconds_bucket{route=\"orders\",le=\"0.005\"} 2\n"),
      std::string::npos);
  EXPECT_NE(text.find("turnpike_request_duration_seconds_bucket{route=\"orders\",le=\"+Inf\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("turnpike_upstream_duration_seconds_count{route=\"orders\"} 3\n"),
            std::string::npos);
  // A request that never reached an upstream is not in the upstream histogram.
  EXPECT_EQ(text.find("turnpike_upstream_duration_seconds_count{route=\"\"}"), std::string::npos);
}

uint64_t countOf(const ProxyMetrics& metrics, const std::string& route, int status) {
  std::string text;
  metrics.render(text);
  const std::string prefix = "turnpike_http_requests_total{route=\"" + route + "\",status=\"" +
                             std::to_string(status) + "\"} ";
  const auto at = text.find(prefix);
  if (at == std::string::npos) return 0;
  return std::stoull(text.substr(at + prefix.size()));
}

TEST(ProxyMetricsTest, TunnelsOpenAreTheDifferenceSummedOverWorkers) {
  ProxyMetrics a, b;
  a.tunnelOpened();
  a.tunnelOpened();
  b.tunnelOpened();
  a.tunnelClosed();  // one of a's closed; b's is still open
  ProxyMetrics sum;
  sum.merge(a);
  sum.merge(b);
  std::string text;
  sum.render(text);
  EXPECT_NE(text.find("# TYPE turnpike_tunnels_open gauge\nturnpike_tunnels_open 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("# TYPE turnpike_tunnels_total counter\nturnpike_tunnels_total 3\n"),
            std::string::npos);
}

TEST(ProxyMetricsTest, RoutesFoundByIndexStayApartAcrossSnapshots) {
  ProxyMetrics m;
  const auto d = microseconds(100);
  // Snapshot 1: index 0 is "orders", index 1 "users".
  m.record({.name = "orders", .index = 0, .snapshot = 1}, 200, d, d, true);
  m.record({.name = "users", .index = 1, .snapshot = 1}, 200, d, d, true);
  m.record({.name = "orders", .index = 0, .snapshot = 1}, 200, d, d, true);
  // Snapshot 2 (a rebuild, perhaps of the same version) puts "users" first.
  m.record({.name = "users", .index = 0, .snapshot = 2}, 201, d, d, true);
  m.record({.name = "orders", .index = 1, .snapshot = 2}, 201, d, d, true);
  // A session still holding snapshot 1 finishes after the swap.
  m.record({.name = "orders", .index = 0, .snapshot = 1}, 202, d, d, true);
  // By name only, and no route at all.
  m.record("users", 202, d, d, true);
  m.record(ProxyMetrics::RouteRef{}, 404, d, d, false);

  EXPECT_EQ(countOf(m, "orders", 200), 2U);
  EXPECT_EQ(countOf(m, "users", 200), 1U);
  EXPECT_EQ(countOf(m, "users", 201), 1U);
  EXPECT_EQ(countOf(m, "orders", 201), 1U);
  EXPECT_EQ(countOf(m, "orders", 202), 1U);
  EXPECT_EQ(countOf(m, "users", 202), 1U);
  EXPECT_EQ(countOf(m, "", 404), 1U);
  EXPECT_EQ(m.totalRequests(), 8U);
}

TEST(ProxyMetricsTest, ForgottenRoutesLeaveTheOutputAndTheOthersKeepCounting) {
  ProxyMetrics m;
  const auto d = microseconds(100);
  // Snapshot 1: "orders", "users", "legacy" at indices 0..2.
  m.record({.name = "orders", .index = 0, .snapshot = 1}, 200, d, d, true);
  m.record({.name = "users", .index = 1, .snapshot = 1}, 200, d, d, true);
  m.record({.name = "legacy", .index = 2, .snapshot = 1}, 200, d, d, true);
  m.record(ProxyMetrics::RouteRef{}, 404, d, d, false);

  // "users" was deleted; nothing matched no route is ever dropped.
  EXPECT_EQ(m.forgetRoutes([](std::string_view label) { return label != "users"; }), 1U);
  EXPECT_EQ(m.forgetRoutes([](std::string_view label) { return label != "users"; }), 0U);
  std::string text;
  m.render(text);
  EXPECT_EQ(text.find("route=\"users\""), std::string::npos) << text;
  EXPECT_EQ(countOf(m, "", 404), 1U);

  // Counting goes on for the same snapshot: indices that moved are looked up again by name.
  m.record({.name = "legacy", .index = 2, .snapshot = 1}, 200, d, d, true);
  m.record({.name = "orders", .index = 0, .snapshot = 1}, 200, d, d, true);
  EXPECT_EQ(countOf(m, "legacy", 200), 2U);
  EXPECT_EQ(countOf(m, "orders", 200), 2U);
  // A late request of the deleted route (on the old snapshot) starts its series afresh.
  m.record({.name = "users", .index = 1, .snapshot = 1}, 200, d, d, true);
  EXPECT_EQ(countOf(m, "users", 200), 1U);
  EXPECT_EQ(m.totalRequests(), 6U);
}

TEST(ProxyMetricsTest, ManyStatusesOfOneRouteAreAllCountedAndMerged) {
  ProxyMetrics a, b;
  const auto d = microseconds(100);
  const int statuses[] = {200, 201, 204, 301, 404, 429, 500, 502, 503, 504};
  for (int i = 0; i < 10; ++i) {
    for (int n = 0; n <= i; ++n) a.record("r", statuses[i], d, d, true);
    b.record({.name = "r", .index = 3, .snapshot = 7}, statuses[9 - i], d, d, true);
  }
  ProxyMetrics sum;
  sum.merge(a);
  sum.merge(b);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(countOf(sum, "r", statuses[i]), static_cast<uint64_t>(i + 2)) << statuses[i];
  }
  // Rendered in status order, whatever the order they first appeared in.
  std::string text;
  sum.render(text);
  EXPECT_LT(text.find("status=\"200\""), text.find("status=\"201\""));
  EXPECT_LT(text.find("status=\"503\""), text.find("status=\"504\""));
}

}  // namespace
}  // namespace turnpike::proxy
