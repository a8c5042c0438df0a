// RateLimitPolicy: a cap on requests per window, keyed by consumer, key, ip, route or a header.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/result.h"

namespace turnpike::model {

enum class RateLimitAlgorithm { kSlidingWindow, kFixedWindow, kTokenBucket };

struct RateLimitPolicy {
  std::string id;
  std::string name;       // unique; same charset as Service::name
  int64_t limit = 0;      // >= 1
  int64_t window_s = 60;  // 1..86400
  RateLimitAlgorithm algorithm = RateLimitAlgorithm::kSlidingWindow;
  int64_t burst = 0;                // >= 0; extra capacity for token_bucket
  std::string key_by = "consumer";  // "consumer" | "api_key" | "ip" | "route" | "header:<name>"
  std::vector<std::string> tags;
  int64_t created_at = 0;
  int64_t updated_at = 0;

  bool operator==(const RateLimitPolicy&) const = default;
};

nlohmann::json toJson(const RateLimitPolicy& policy);
Result<RateLimitPolicy> parseRateLimitPolicy(const nlohmann::json& body);

std::string_view toString(RateLimitAlgorithm algorithm);

}  // namespace turnpike::model
