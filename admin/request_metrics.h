// RequestMetrics: counts admin API requests by method and status for GET /metrics.
//
// Thread-safe: record() and render() may run on any reactor thread at once (one short mutex).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>

namespace turnpike::admin {

class RequestMetrics {
 public:
  // Methods other than the usual HTTP ones are counted as "OTHER", so that a client cannot
  // grow the label set without bound.
  void record(const std::string& method, int status);

  // Prometheus text lines for turnpike_admin_requests_total (with HELP and TYPE).
  std::string render() const;

 private:
  mutable std::mutex mu_;  // guards counts_
  std::map<std::pair<std::string, int>, uint64_t> counts_;
};

}  // namespace turnpike::admin
