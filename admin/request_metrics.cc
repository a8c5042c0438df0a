#include "admin/request_metrics.h"

#include <array>
#include <string_view>

namespace turnpike::admin {

void RequestMetrics::record(const std::string& method, int status) {
  static constexpr std::array<std::string_view, 7> kKnown = {"GET",    "POST", "PUT",    "PATCH",
                                                             "DELETE", "HEAD", "OPTIONS"};
  std::string label = "OTHER";
  for (std::string_view known : kKnown) {
    if (method == known) label = known;
  }
  std::lock_guard lock(mu_);
  ++counts_[{std::move(label), status}];
}

std::string RequestMetrics::render() const {
  std::string out =
      "# HELP turnpike_admin_requests_total Admin API requests answered, by method and status.\n"
      "# TYPE turnpike_admin_requests_total counter\n";
  std::lock_guard lock(mu_);
  for (const auto& [key, count] : counts_) {
    out += "turnpike_admin_requests_total{method=\"" + key.first + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

}  // namespace turnpike::admin
