#include "proxy/proxy_metrics.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "proxy/access_log.h"

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

TEST(AccessLogTest, OneJsonObjectPerLine) {
  std::string line;
  appendAccessLogLine(
      {.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1'700'000'000'123)),
       .request_id = "rid",
       .client_ip = "127.0.0.1",
       .method = "GET",
       .host = "api.example.com",
       .path = "/orders/\"7\"",
       .route = "orders",
       .consumer = "",
       .status = 200,
       .bytes_sent = 42,
       .duration = microseconds(1500),
       .upstream_duration = microseconds(1000),
       .target = "http://127.0.0.1:9000"},
      line);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(json["path"], "/orders/\"7\"");
  EXPECT_EQ(json["status"], 200);
  EXPECT_EQ(json["bytes"], 42);
  EXPECT_DOUBLE_EQ(json["duration_s"].get<double>(), 0.0015);
  EXPECT_EQ(json["target"], "http://127.0.0.1:9000");
}

}  // namespace
}  // namespace turnpike::proxy
