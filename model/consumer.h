// Consumer: who calls. Holds API keys (see api_key.h), ACL groups and its own rate-limit policies.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/result.h"

namespace turnpike::model {

struct Consumer {
  std::string id;
  std::string username;   // unique; same charset as Service::name (plus '@')
  std::string custom_id;  // optional (empty = none), free text up to 256 chars
  std::vector<std::string> groups;
  std::vector<std::string> rate_limit_policies;  // on input: ids or names; stored: ids
  std::vector<std::string> tags;
  int64_t created_at = 0;
  int64_t updated_at = 0;

  bool operator==(const Consumer&) const = default;
};

nlohmann::json toJson(const Consumer& consumer);  // custom_id null when empty
Result<Consumer> parseConsumer(const nlohmann::json& body);

}  // namespace turnpike::model
