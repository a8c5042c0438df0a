// SnapshotBuilder: compiles a model::Config into an immutable Snapshot.
//
//   model::Result<SnapshotConstSharedPtr> built = SnapshotBuilder::build(std::move(config));
//   if (!built) { log(built.error().message); keep serving the old snapshot; }
//   else registry.publish(*built);
//
// What it does: resolves services (targets parsed into host/port/weight, hash_on, timeouts),
// points every route at its service (by id, or by name as a fallback), compiles hosts, paths
// (templates, RE2 regexes) and header conditions, and indexes the routes in a Router. It resolves
// the rate-limit policies of routes and consumers (ids, names as a fallback; an unknown one is an
// error on "routes[i].rate_limit_policies[j]" / "consumers[i].rate_limit_policies[j]"), joins
// consumer groups for X-Consumer-Groups, and indexes API keys by hash (a key whose consumer is
// missing is skipped; a repeated key_hash is an error).
//
// Errors: a config that cannot be compiled yields ErrorCode::kInvalid with one FieldError per
// problem, named like the config document ("routes[3].paths[1]", "services[0].targets[2].url")
// and a message naming the route or service ("route 'orders-api': invalid regex: ..."). All
// problems are collected, not just the first. Nothing is published by the builder itself.
//
// Not re-checked here (model/ validated them on the way in): name charsets, value ranges, the
// rule that a route has at least one of hosts/paths/methods (one with none is a catch-all).
//
// THREAD: pure function of its input; any thread (the control thread in practice). COST: linear
// in the size of the config plus regex compilation and one sort; see DESIGN.md's budget (100k
// routes under 250 ms). Use the rvalue overload to avoid copying the config.
#pragma once

#include "model/config.h"
#include "model/result.h"
#include "proxy/snapshot.h"
#include "proxy/tls/upstream_context.h"

namespace turnpike::proxy {

// What a snapshot takes from TLS material that needs unsealed keys, which is not the data
// plane's business: app/tls_snapshots.cc builds it with caches that outlive the snapshots.
struct TlsMaterial {
  // The TLS listener's certificates, from config.certificates (tls::ContextCache); null when
  // there is no listener.
  std::shared_ptr<const tls::CertificateTable> certificates;
  // A context for every service with an https:// target (tls::UpstreamContextCache). A service
  // missing here cannot have https:// targets: the build says so on its targets.
  tls::UpstreamContexts upstream;
};

class SnapshotBuilder {
 public:
  [[nodiscard]] static model::Result<SnapshotConstSharedPtr> build(const model::Config& config);
  [[nodiscard]] static model::Result<SnapshotConstSharedPtr> build(model::Config&& config);
  [[nodiscard]] static model::Result<SnapshotConstSharedPtr> build(model::Config&& config,
                                                                   TlsMaterial tls);

  // A snapshot of the empty configuration at version 0 (no routes: every request is a 404).
  static SnapshotConstSharedPtr empty();
};

}  // namespace turnpike::proxy
