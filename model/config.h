// Config: the whole configuration at one version, as loaded by the store in one read
// transaction, exported by GET /config and accepted by PUT /config.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <vector>

#include "model/api_key.h"
#include "model/certificate.h"
#include "model/consumer.h"
#include "model/rate_limit_policy.h"
#include "model/result.h"
#include "model/route.h"
#include "model/service.h"

namespace turnpike::model {

struct Config {
  int64_t version = 0;
  std::vector<Service> services;
  std::vector<Route> routes;
  std::vector<Consumer> consumers;
  std::vector<ApiKey> api_keys;
  std::vector<RateLimitPolicy> rate_limit_policies;
  std::vector<Certificate> certificates;

  bool operator==(const Config&) const = default;
};

// {"version", "services", "routes", "consumers", "api_keys" (with key_hash), "rate_limit_policies",
//  "certificates" (with key_encrypted, never the key in plain text)}
nlohmann::json toJson(const Config& config);

// Decodes every entity with its own parser; field names are prefixed with the collection and
// index ("routes[3].paths[0]"). Cross references are not checked here (the store does that).
// "version" is accepted and ignored. A certificate may leave its key out (the store keeps the
// stored one) or give it as "key" or "key_encrypted".
Result<Config> parseConfig(const nlohmann::json& body);

}  // namespace turnpike::model
