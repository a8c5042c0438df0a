// CompiledConsumer: a model::Consumer resolved for the data plane — its rate-limit policies as
// pointers, and the X-Consumer-* fields an upstream gets, written once. KeyEntry: what an API
// key's hash leads to (see Snapshot::findKey()).
//
//   if (const KeyEntry* entry = snapshot.findKey(model::sha256Hex(presented_key))) {
//     const CompiledConsumer& consumer = *entry->consumer;
//     head.consumer_fields = consumer.forwarded_fields;  // "X-Consumer-Id: ...\r\n..."
//   }
//
// Both live inside a Snapshot and are immutable; every pointer (def, policies, key, consumer) is
// valid while the Snapshot is alive.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/api_key.h"
#include "model/consumer.h"
#include "model/rate_limit_policy.h"

namespace turnpike::proxy {

// "X-Consumer-Id: <id>\r\nX-Consumer-Username: <username>\r\n", then
// "X-Consumer-Groups: <groups>\r\n" when `groups` is not empty. The values are validated names
// and ids (no CR, LF or NUL).
inline std::string consumerFields(std::string_view id, std::string_view username,
                                  std::string_view groups) {
  std::string out;
  out.append("X-Consumer-Id: ").append(id).append("\r\n");
  out.append("X-Consumer-Username: ").append(username).append("\r\n");
  if (!groups.empty()) out.append("X-Consumer-Groups: ").append(groups).append("\r\n");
  return out;
}

struct CompiledConsumer {
  const model::Consumer* def = nullptr;  // the configuration it came from (owned by the Snapshot)
  uint32_t index = 0;                    // position in Snapshot::consumers()
  // consumerFields(def->id, def->username, def->groups joined by ','): the lines the upstream
  // request carries.
  std::string forwarded_fields;
  // def->rate_limit_policies resolved, in order, without repeats. Empty (no allocation) when the
  // consumer has none.
  std::vector<const model::RateLimitPolicy*> policies;

  const std::string& id() const { return def->id; }
  const std::string& username() const { return def->username; }
  // Exact, case-sensitive comparison (group names are validated names). Linear in the number of
  // groups; no allocation.
  bool inGroup(std::string_view group) const {
    return std::find(def->groups.begin(), def->groups.end(), group) != def->groups.end();
  }
};

// One API key and the consumer it belongs to. Never has a null member in a built Snapshot.
struct KeyEntry {
  const model::ApiKey* key = nullptr;
  const CompiledConsumer* consumer = nullptr;
};

}  // namespace turnpike::proxy
