// ProxyMetrics: one worker's request counters and latency histograms, by route and status.
//
// Each worker owns one and updates it on its own thread without atomics or locks; a scrape asks
// every worker (on its own thread) for a copy and merges them (ProxyServer::metricsText), so the
// request path never touches shared memory for metrics.
//
//   metrics.record(route_label, status, total, upstream);          // worker thread
//   ProxyMetrics sum; sum.merge(copy_from_worker_0); ...; sum.render(out);   // scrape
#pragma once

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/string_map.h"

namespace turnpike::proxy {

// A Prometheus histogram with fixed buckets (seconds).
struct LatencyHistogram {
  static constexpr std::array<double, 13> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  std::array<uint64_t, kBounds.size()> buckets{};  // non-cumulative; rendered cumulative
  uint64_t count = 0;
  double sum = 0;

  void observe(std::chrono::microseconds value);
  void merge(const LatencyHistogram& other);
};

class ProxyMetrics {
 public:
  // `route`: the route's name or id; empty for requests no route served.
  void record(std::string_view route, int status, std::chrono::microseconds total,
              std::chrono::microseconds upstream, bool called_upstream);

  void merge(const ProxyMetrics& other);

  // Appends turnpike_http_requests_total{route,status}, turnpike_request_duration_seconds and
  // turnpike_upstream_duration_seconds (by route) in the Prometheus text format.
  void render(std::string& out) const;

  uint64_t totalRequests() const;

 private:
  struct RouteStats {
    boost::unordered_flat_map<int, uint64_t> by_status;
    LatencyHistogram duration;
    LatencyHistogram upstream;
  };
  StringMap<RouteStats> routes_;
};

}  // namespace turnpike::proxy
