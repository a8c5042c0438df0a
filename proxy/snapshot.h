// Snapshot: the whole configuration at one version, compiled for the data plane. It is built by
// SnapshotBuilder off the worker threads, published through SnapshotRegistry, and never changed
// afterwards; workers read it without locks, and a request pins the one it started with:
//
//   SnapshotConstSharedPtr pinned = cache.current();  // per request, see snapshot_registry.h
//   RouteMatch m = pinned->router().match(request);
//   const CompiledService& service = *m.route->service;
//
// It owns the model::Config it came from (def() pointers of routes, services and consumers, and
// the key and policy pointers, point into it). The policy layer finds a presented API key by its
// hash, the consumer behind it, and the rate-limit policies of a route or consumer already
// resolved:
//
//   const KeyEntry* entry = pinned->findKey(model::sha256Hex(key));  // see policy/key_auth.h
//   for (const model::RateLimitPolicy* p : m.route->policies) ...
//
// State that is not configuration (counters, pools, health) lives beside it, keyed by ids.
//
// THREAD: immutable; any thread may read it. OWNERSHIP: shared through SnapshotConstSharedPtr;
// every pointer and view handed out (routes, services, consumers, key entries, policies,
// RouteMatch) lives as long as the Snapshot.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "proxy/compiled_consumer.h"
#include "proxy/compiled_route.h"
#include "proxy/compiled_service.h"
#include "proxy/router.h"
#include "proxy/string_map.h"

namespace turnpike::proxy {

namespace tls {
class CertificateTable;
}

class Snapshot {
  struct PrivateTag {};

 public:
  // Only SnapshotBuilder makes snapshots (the tag is private); public for std::make_shared.
  Snapshot(PrivateTag, model::Config config);
  ~Snapshot();
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;

  // The config_version this snapshot was built from.
  int64_t version() const { return config_.version; }
  // Unique per Snapshot in this process and increasing with each one made (from 1): tells apart
  // two snapshots of the same version (a rebuild), and a newer snapshot from an older one.
  uint64_t buildId() const { return build_id_; }
  const model::Config& config() const { return config_; }

  const Router& router() const { return router_; }
  std::span<const CompiledService> services() const { return services_; }
  std::span<const CompiledRoute> routes() const { return routes_; }
  std::span<const CompiledConsumer> consumers() const { return consumers_; }

  // By id, or by name when no id matches. nullptr when absent. O(1).
  const CompiledService* findService(std::string_view id_or_name) const;
  const CompiledRoute* findRoute(std::string_view id_or_name) const;
  const model::RateLimitPolicy* findPolicy(std::string_view id_or_name) const;

  // By id only (not username). nullptr when absent. O(1).
  const CompiledConsumer* findConsumer(std::string_view id) const;

  // By model::ApiKey::key_hash: the lower-case hex SHA-256 of the key (model::sha256Hex()); an
  // upper-case digest finds nothing. nullptr when absent. O(1); no allocation. Expiry is not
  // checked here (see policy::authenticate()). Keys whose consumer is missing are not indexed.
  const KeyEntry* findKey(std::string_view key_hash) const;

  // The certificates the TLS listener serves, by SNI (tls/certificate_table.h); null when the
  // snapshot was built without them.
  const std::shared_ptr<const tls::CertificateTable>& certificates() const { return certificates_; }

  // How long SnapshotBuilder took, and when it finished (for /status).
  std::chrono::microseconds buildDuration() const { return build_duration_; }
  std::chrono::system_clock::time_point builtAt() const { return built_at_; }

 private:
  friend class SnapshotBuilder;

  using IndexMap = boost::unordered_flat_map<std::string_view, uint32_t, TransparentStringHash>;
  using KeyMap = boost::unordered_flat_map<std::string_view, KeyEntry, TransparentStringHash>;

  // Declaration order matters: routes_, services_ and consumers_ point into config_, router_ into
  // routes_, key_index_ into config_ and consumers_.
  const model::Config config_;
  const uint64_t build_id_;
  std::vector<CompiledService> services_;
  std::vector<CompiledConsumer> consumers_;
  std::vector<CompiledRoute> routes_;
  Router router_;
  IndexMap service_index_;   // id and name -> services_ index
  IndexMap route_index_;     // id and name -> routes_ index
  IndexMap policy_index_;    // id and name -> config_.rate_limit_policies index
  IndexMap consumer_index_;  // id -> consumers_ index
  KeyMap key_index_;         // key_hash -> key and consumer; not changed after the build
  std::shared_ptr<const tls::CertificateTable> certificates_;
  std::chrono::microseconds build_duration_{0};
  std::chrono::system_clock::time_point built_at_;
};

using SnapshotConstSharedPtr = std::shared_ptr<const Snapshot>;

}  // namespace turnpike::proxy
