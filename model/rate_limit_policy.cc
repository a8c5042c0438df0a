#include "model/rate_limit_policy.h"

#include <optional>
#include <utility>

#include "model/json_reader.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

constexpr int64_t kMaxLimit = 1000000000000;  // 1e12
constexpr int64_t kMaxWindowS = 86400;

std::optional<RateLimitAlgorithm> parseAlgorithm(std::string_view text) {
  if (text == "sliding_window") return RateLimitAlgorithm::kSlidingWindow;
  if (text == "fixed_window") return RateLimitAlgorithm::kFixedWindow;
  if (text == "token_bucket") return RateLimitAlgorithm::kTokenBucket;
  return std::nullopt;
}

}  // namespace

std::string_view toString(RateLimitAlgorithm algorithm) {
  switch (algorithm) {
    case RateLimitAlgorithm::kSlidingWindow:
      return "sliding_window";
    case RateLimitAlgorithm::kFixedWindow:
      return "fixed_window";
    case RateLimitAlgorithm::kTokenBucket:
      return "token_bucket";
  }
  return "sliding_window";
}

json toJson(const RateLimitPolicy& policy) {
  return {{"id", policy.id.empty() ? json(nullptr) : json(policy.id)},
          {"name", policy.name},
          {"limit", policy.limit},
          {"window_s", policy.window_s},
          {"algorithm", toString(policy.algorithm)},
          {"burst", policy.burst},
          {"key_by", policy.key_by},
          {"tags", policy.tags},
          {"created_at", policy.created_at},
          {"updated_at", policy.updated_at}};
}

Result<RateLimitPolicy> parseRateLimitPolicy(const json& body) {
  FieldErrors errors;
  RateLimitPolicy policy;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    readId(r, &policy.id);
    if (r.get("name") == nullptr) {
      r.addError("name", "is required");
    } else if (r.readString("name", &policy.name)) {
      std::string message = checkName(policy.name);
      if (!message.empty()) r.addError("name", std::move(message));
    }
    if (r.get("limit") == nullptr) {
      r.addError("limit", "is required");
    } else {
      r.readInt("limit", 1, kMaxLimit, &policy.limit);
    }
    r.readInt("window_s", 1, kMaxWindowS, &policy.window_s);
    bool algorithm_ok = true;
    std::string algorithm;
    if (r.readString("algorithm", &algorithm)) {
      std::optional<RateLimitAlgorithm> parsed = parseAlgorithm(algorithm);
      if (parsed) {
        policy.algorithm = *parsed;
      } else {
        algorithm_ok = false;
        r.addError("algorithm", "must be one of sliding_window, fixed_window, token_bucket");
      }
    } else if (r.get("algorithm") != nullptr) {
      algorithm_ok = false;
    }
    if (r.readInt("burst", 0, kMaxLimit, &policy.burst) && algorithm_ok && policy.burst > 0 &&
        policy.algorithm != RateLimitAlgorithm::kTokenBucket) {
      // Windows have no bucket to overfill; silently ignoring burst would mislead.
      r.addError("burst", "must be 0 unless algorithm is token_bucket");
    }
    std::string key_by;
    if (r.readString("key_by", &key_by)) {
      std::string message = checkKeySelector(key_by, {"consumer", "api_key", "ip", "route"});
      if (message.empty()) {
        policy.key_by = std::move(key_by);
      } else {
        r.addError("key_by", std::move(message));
      }
    }
    readTags(r, &policy.tags);
    readTimestamps(r, &policy.created_at, &policy.updated_at);
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("rate limit policy", std::move(errors));
  return policy;
}

}  // namespace turnpike::model
