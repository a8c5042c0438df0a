#include "proxy/proxy_metrics.h"

#include <algorithm>
#include <boost/container_hash/hash.hpp>
#include <cstdio>
#include <map>
#include <vector>

#include "proxy/proxy_answer.h"

namespace turnpike::proxy {

void LatencyHistogram::observe(std::chrono::microseconds value) {
  const double seconds = static_cast<double>(value.count()) / 1e6;
  auto bound = std::lower_bound(kBounds.begin(), kBounds.end(), seconds);
  if (bound != kBounds.end()) ++buckets[static_cast<std::size_t>(bound - kBounds.begin())];
  ++count;
  sum += seconds;
}

void LatencyHistogram::merge(const LatencyHistogram& other) {
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += other.buckets[i];
  count += other.count;
  sum += other.sum;
}

void StatusCounts::add(int status, uint64_t count) {
  for (std::size_t i = 0; i < kInline; ++i) {
    if (codes_[i] == status) {
      counts_[i] += count;
      return;
    }
    if (codes_[i] == 0) {
      codes_[i] = status;
      counts_[i] = count;
      return;
    }
  }
  more_[status] += count;
}

void StatusCounts::merge(const StatusCounts& other) {
  for (std::size_t i = 0; i < kInline; ++i) {
    if (other.codes_[i] != 0) add(other.codes_[i], other.counts_[i]);
  }
  for (const auto& [code, n] : other.more_) add(code, n);
}

std::map<int, uint64_t> StatusCounts::sorted() const {
  std::map<int, uint64_t> out(more_.begin(), more_.end());
  for (std::size_t i = 0; i < kInline; ++i) {
    if (codes_[i] != 0) out[codes_[i]] += counts_[i];
  }
  return out;
}

uint32_t ProxyMetrics::statsIndex(std::string_view name) {
  auto it = by_name_.find(name);
  if (it != by_name_.end()) return it->second;
  const auto index = static_cast<uint32_t>(stats_.size());
  stats_.push_back(RouteStats{.name = std::string(name)});
  by_name_.try_emplace(std::string(name), index);
  return index;
}

uint32_t ProxyMetrics::statsIndex(const RouteRef& route) {
  if (route.snapshot == 0 || route.snapshot < slots_snapshot_) return statsIndex(route.name);
  if (route.snapshot > slots_snapshot_) {
    slots_.clear();
    slots_snapshot_ = route.snapshot;
  }
  if (route.index >= slots_.size()) slots_.resize(route.index + 1, 0);
  uint32_t& slot = slots_[route.index];
  if (slot == 0) slot = statsIndex(route.name) + 1;
  return slot - 1;
}

void ProxyMetrics::record(const RouteRef& route, int status, std::chrono::microseconds total,
                          std::chrono::microseconds upstream, bool called_upstream) {
  RouteStats& stats = stats_[statsIndex(route)];
  stats.by_status.add(status);
  stats.duration.observe(total);
  if (called_upstream) stats.upstream.observe(upstream);
}

void ProxyMetrics::merge(const ProxyMetrics& other) {
  for (const RouteStats& theirs : other.stats_) {
    RouteStats& mine = stats_[statsIndex(theirs.name)];
    mine.by_status.merge(theirs.by_status);
    mine.duration.merge(theirs.duration);
    mine.upstream.merge(theirs.upstream);
  }
  for (std::size_t i = 0; i < 2; ++i) {
    listener_requests_[i] += other.listener_requests_[i];
    tls_handshakes_[i] += other.tls_handshakes_[i];
  }
  tunnels_opened_ += other.tunnels_opened_;
  tunnels_closed_ += other.tunnels_closed_;
}

std::size_t ProxyMetrics::forgetRoutes(const std::function<bool(std::string_view)>& exists) {
  const std::size_t dropped = std::erase_if(
      stats_, [&](const RouteStats& stats) { return !stats.name.empty() && !exists(stats.name); });
  if (dropped == 0) return 0;
  by_name_.clear();
  for (uint32_t index = 0; index < stats_.size(); ++index) {
    by_name_.try_emplace(stats_[index].name, index);
  }
  slots_.clear();  // they hold indices into stats_, which moved: looked up again by name
  return dropped;
}

uint64_t ProxyMetrics::totalRequests() const {
  uint64_t total = 0;
  for (const RouteStats& stats : stats_) total += stats.duration.count;
  return total;
}

namespace {

void appendLabel(std::string_view value, std::string& out) {
  // Prometheus label values escape backslash, quote and newline, like JSON strings.
  appendJsonEscaped(value, out);
}

void renderHistogram(std::string_view name, std::string_view route, const LatencyHistogram& h,
                     std::string& out) {
  uint64_t cumulative = 0;
  char number[32];
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    cumulative += h.buckets[i];
    std::snprintf(number, sizeof number, "%g", LatencyHistogram::kBounds[i]);
    out += name;
    out += "_bucket{route=\"";
    appendLabel(route, out);
    out += "\",le=\"";
    out += number;
    out += "\"} ";
    out += std::to_string(cumulative);
    out += '\n';
  }
  out += name;
  out += "_bucket{route=\"";
  appendLabel(route, out);
  out += "\",le=\"+Inf\"} ";
  out += std::to_string(h.count);
  out += '\n';
  std::snprintf(number, sizeof number, "%.6f", h.sum);
  out += name;
  out += "_sum{route=\"";
  appendLabel(route, out);
  out += "\"} ";
  out += number;
  out += '\n';
  out += name;
  out += "_count{route=\"";
  appendLabel(route, out);
  out += "\"} ";
  out += std::to_string(h.count);
  out += '\n';
}

}  // namespace

void ProxyMetrics::render(std::string& out) const {
  // Sorted output: stable for people and for tests.
  std::map<std::string_view, const RouteStats*> sorted;
  for (const RouteStats& stats : stats_) sorted.emplace(stats.name, &stats);

  out +=
      "# HELP turnpike_http_requests_total Requests answered by the proxy, by route and status.\n";
  out += "# TYPE turnpike_http_requests_total counter\n";
  for (const auto& [route, stats] : sorted) {
    for (const auto& [status, count] : stats->by_status.sorted()) {
      out += "turnpike_http_requests_total{route=\"";
      appendLabel(route, out);
      out += "\",status=\"";
      out += std::to_string(status);
      out += "\"} ";
      out += std::to_string(count);
      out += '\n';
    }
  }
  out +=
      "# HELP turnpike_request_duration_seconds Time from request headers to the last byte sent.\n";
  out += "# TYPE turnpike_request_duration_seconds histogram\n";
  for (const auto& [route, stats] : sorted) {
    renderHistogram("turnpike_request_duration_seconds", route, stats->duration, out);
  }
  out +=
      "# HELP turnpike_upstream_duration_seconds Time from connecting upstream to its response "
      "headers.\n";
  out += "# TYPE turnpike_upstream_duration_seconds histogram\n";
  for (const auto& [route, stats] : sorted) {
    if (stats->upstream.count == 0) continue;
    renderHistogram("turnpike_upstream_duration_seconds", route, stats->upstream, out);
  }
  out +=
      "# HELP turnpike_listener_requests_total Requests answered, by the listener they came in "
      "on.\n";
  out += "# TYPE turnpike_listener_requests_total counter\n";
  out += "turnpike_listener_requests_total{listener=\"http\"} " +
         std::to_string(listener_requests_[0]) + "\n";
  out += "turnpike_listener_requests_total{listener=\"https\"} " +
         std::to_string(listener_requests_[1]) + "\n";
  out += "# HELP turnpike_tls_handshakes_total TLS handshakes on the TLS listener, by outcome.\n";
  out += "# TYPE turnpike_tls_handshakes_total counter\n";
  out +=
      "turnpike_tls_handshakes_total{result=\"ok\"} " + std::to_string(tls_handshakes_[0]) + "\n";
  out += "turnpike_tls_handshakes_total{result=\"failed\"} " + std::to_string(tls_handshakes_[1]) +
         "\n";
  out += "# HELP turnpike_tunnels_open Upgraded connections (WebSocket) open now.\n";
  out += "# TYPE turnpike_tunnels_open gauge\n";
  out += "turnpike_tunnels_open " + std::to_string(tunnels_opened_ - tunnels_closed_) + "\n";
  out += "# HELP turnpike_tunnels_total Upgraded connections (WebSocket) opened.\n";
  out += "# TYPE turnpike_tunnels_total counter\n";
  out += "turnpike_tunnels_total " + std::to_string(tunnels_opened_) + "\n";
}

}  // namespace turnpike::proxy
