#include "proxy/snapshot.h"

#include <atomic>
#include <functional>
#include <utility>

namespace turnpike::proxy {

namespace {
std::atomic<uint64_t> last_build_id{0};
}  // namespace

Snapshot::Snapshot(PrivateTag, model::Config config)
    : config_(std::move(config)),
      build_id_(last_build_id.fetch_add(1, std::memory_order_relaxed) + 1) {}

Snapshot::~Snapshot() = default;

const CompiledService* Snapshot::findService(std::string_view id_or_name) const {
  auto it = service_index_.find(id_or_name);
  return it == service_index_.end() ? nullptr : &services_[it->second];
}

const CompiledRoute* Snapshot::findRoute(std::string_view id_or_name) const {
  auto it = route_index_.find(id_or_name);
  return it == route_index_.end() ? nullptr : &routes_[it->second];
}

const model::RateLimitPolicy* Snapshot::findPolicy(std::string_view id_or_name) const {
  auto it = policy_index_.find(id_or_name);
  return it == policy_index_.end() ? nullptr : &config_.rate_limit_policies[it->second];
}

const CompiledConsumer* Snapshot::findConsumer(std::string_view id) const {
  auto it = consumer_index_.find(id);
  return it == consumer_index_.end() ? nullptr : &consumers_[it->second];
}

const KeyEntry* Snapshot::findKey(std::string_view key_hash) const {
  auto it = key_index_.find(key_hash);
  return it == key_index_.end() ? nullptr : &it->second;
}

}  // namespace turnpike::proxy
