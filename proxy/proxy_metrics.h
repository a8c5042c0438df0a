// ProxyMetrics: one worker's request counters and latency histograms, by route and status.
//
// Each worker owns one and updates it on its own thread without atomics or locks; a scrape asks
// every worker (on its own thread) for a copy and merges them (ProxyServer::metricsText), so the
// request path never touches shared memory for metrics.
//
//   metrics.record({.name = label, .index = route.index, .snapshot = snapshot->buildId()},
//                  status, total, upstream, called_upstream);          // worker thread
//   ProxyMetrics sum; sum.merge(copy_from_worker_0); ...; sum.render(out);   // scrape
//
// COST: a request of a route already seen in the same snapshot finds its counters by the route's
// index in that snapshot (an array index), without hashing its name: with 10,000 routes the name
// table is too big to stay in cache. A route's counters live as long as the route: the worker
// calls forgetRoutes() after each configuration change, and the series of a deleted (or
// renamed) route leave /metrics, so memory follows the routes configured, not every name ever
// served.
#pragma once

#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proxy/string_map.h"

namespace turnpike::proxy {

// A Prometheus histogram with fixed buckets (seconds). On its own cache lines, with the count, the
// sum and the buckets up to 25 ms on the first: a request updates one line of it as a rule.
struct alignas(64) LatencyHistogram {
  static constexpr std::array<double, 13> kBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10};
  uint64_t count = 0;
  double sum = 0;
  std::array<uint64_t, kBounds.size()> buckets{};  // non-cumulative; rendered cumulative

  void observe(std::chrono::microseconds value);
  void merge(const LatencyHistogram& other);
};

// Requests by status. The first few statuses a route answers with are kept inline (most routes
// see one to three), the rest in a map.
class StatusCounts {
 public:
  void add(int status, uint64_t count = 1);
  void merge(const StatusCounts& other);
  std::map<int, uint64_t> sorted() const;

 private:
  static constexpr std::size_t kInline = 4;
  std::array<int, kInline> codes_{};  // 0: a free entry
  std::array<uint64_t, kInline> counts_{};
  boost::unordered_flat_map<int, uint64_t> more_;
};

class ProxyMetrics {
 public:
  // The route a request is counted under.
  struct RouteRef {
    std::string_view name;  // the route's name or id (the label); empty: no route served it
    // The route's position in the snapshot that matched it, and that snapshot's buildId(); 0
    // means "look up by name".
    uint32_t index = 0;
    uint64_t snapshot = 0;
  };

  void record(const RouteRef& route, int status, std::chrono::microseconds total,
              std::chrono::microseconds upstream, bool called_upstream);
  // The same, found by name.
  void record(std::string_view route, int status, std::chrono::microseconds total,
              std::chrono::microseconds upstream, bool called_upstream) {
    record(RouteRef{.name = route}, status, total, upstream, called_upstream);
  }

  // Which listener a request came in on (counted apart from the route counters).
  void recordListener(bool tls) { ++listener_requests_[tls ? 1 : 0]; }
  // A TLS handshake's outcome.
  void recordTlsHandshake(bool ok) { ++tls_handshakes_[ok ? 0 : 1]; }
  // An upgraded connection (a 101 relayed) begins and ends its tunnel.
  void tunnelOpened() { ++tunnels_opened_; }
  void tunnelClosed() { ++tunnels_closed_; }

  void merge(const ProxyMetrics& other);

  // Drops the counters of every route for which `exists(label)` is false. Requests that matched
  // no route (label "") are always kept. Returns how many routes were dropped.
  std::size_t forgetRoutes(const std::function<bool(std::string_view)>& exists);

  // Appends turnpike_http_requests_total{route,status}, turnpike_request_duration_seconds and
  // turnpike_upstream_duration_seconds (by route), turnpike_listener_requests_total{listener}
  // turnpike_tls_handshakes_total{result}, turnpike_tunnels_open and turnpike_tunnels_total in
  // the Prometheus text format.
  void render(std::string& out) const;

  uint64_t totalRequests() const;

 private:
  // What a request updates first (three cache lines as a rule: the statuses, and the start of
  // each histogram), the name last.
  struct RouteStats {
    StatusCounts by_status;
    LatencyHistogram duration;
    LatencyHistogram upstream;
    std::string name;
  };
  // The index in stats_ of the route's counters; made when the name is new.
  uint32_t statsIndex(std::string_view name);
  uint32_t statsIndex(const RouteRef& route);

  std::vector<RouteStats> stats_;
  StringMap<uint32_t> by_name_;  // index in stats_
  // For the routes of the snapshot with buildId() slots_snapshot_, by route index: index in
  // stats_ + 1 (0: not looked up yet). Requests of an older snapshot (a session that pinned it
  // before the swap) are looked up by name instead.
  std::vector<uint32_t> slots_;
  uint64_t slots_snapshot_ = 0;
  std::array<uint64_t, 2> listener_requests_{};  // plain, TLS
  std::array<uint64_t, 2> tls_handshakes_{};     // completed, failed
  uint64_t tunnels_opened_ = 0;
  uint64_t tunnels_closed_ = 0;  // open now: the difference, summed over the workers
};

}  // namespace turnpike::proxy
