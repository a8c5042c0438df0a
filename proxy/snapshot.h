// Snapshot: the whole configuration at one version, compiled for the data plane. It is built by
// SnapshotBuilder off the worker threads, published through SnapshotRegistry, and never changed
// afterwards; workers read it without locks, and a request pins the one it started with:
//
//   SnapshotConstSharedPtr pinned = cache.current();  // per request, see snapshot_registry.h
//   RouteMatch m = pinned->router().match(request);
//   const CompiledService& service = *m.route->service;
//
// It owns the model::Config it came from (def() pointers of routes and services point into it)
// so that the policy layer can read consumers, keys and rate-limit policies from the same
// version. State that is not configuration (counters, pools, health) lives beside it, keyed by
// ids.
//
// THREAD: immutable; any thread may read it. OWNERSHIP: shared through SnapshotConstSharedPtr;
// every pointer and view handed out (routes, services, RouteMatch) lives as long as the Snapshot.
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
#include "proxy/compiled_route.h"
#include "proxy/compiled_service.h"
#include "proxy/router.h"

namespace turnpike::proxy {

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
  const model::Config& config() const { return config_; }

  const Router& router() const { return router_; }
  std::span<const CompiledService> services() const { return services_; }
  std::span<const CompiledRoute> routes() const { return routes_; }

  // By id, or by name when no id matches. nullptr when absent. O(1).
  const CompiledService* findService(std::string_view id_or_name) const;
  const CompiledRoute* findRoute(std::string_view id_or_name) const;

  // How long SnapshotBuilder took, and when it finished (for /status).
  std::chrono::microseconds buildDuration() const { return build_duration_; }
  std::chrono::system_clock::time_point builtAt() const { return built_at_; }

 private:
  friend class SnapshotBuilder;

  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const;
  };
  using IndexMap = boost::unordered_flat_map<std::string_view, uint32_t, StringHash>;

  // Declaration order matters: routes_ and services_ point into config_, router_ into routes_.
  const model::Config config_;
  std::vector<CompiledService> services_;
  std::vector<CompiledRoute> routes_;
  Router router_;
  IndexMap service_index_;  // id and name -> services_ index
  IndexMap route_index_;    // id and name -> routes_ index
  std::chrono::microseconds build_duration_{0};
  std::chrono::system_clock::time_point built_at_;
};

using SnapshotConstSharedPtr = std::shared_ptr<const Snapshot>;

}  // namespace turnpike::proxy
