// CompiledRoute: a model::Route resolved for the data plane — its service, its hosts and paths
// compiled into patterns, its methods and header conditions in a form that is cheap to test.
//
// Lives inside a Snapshot and is immutable; pointers to it (RouteMatch::route) are valid while the
// Snapshot is alive. The policy layer reads its rate-limit policies already resolved (policies)
// and the rest (auth, allow_groups) from def().
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/rate_limit_policy.h"
#include "model/route.h"
#include "proxy/compiled_service.h"
#include "proxy/host_pattern.h"
#include "proxy/path_pattern.h"
#include "proxy/policy/json_shape.h"
#include "proxy/policy/route_transforms.h"
#include "proxy/request_view.h"

namespace turnpike::proxy {

// One entry of Route::headers: the (lower-case) field name and the accepted values (any value
// when empty). Views into the route definition.
struct HeaderCondition {
  std::string_view name;
  std::span<const std::string> values;
};

// One backend of an aggregate route.
struct CompiledBackend {
  const model::AggregateBackend* def = nullptr;
  const CompiledService* service = nullptr;  // never null in a built Snapshot
  policy::CompiledJsonShape json;            // applied to its answer before the merge
  std::chrono::milliseconds timeout{0};      // its own, else the aggregate's
};

// The fields every request reads come first, and the struct starts on a cache line: with
// 10,000 routes spread over the requests, each line a request touches is a miss of its own (the
// definition `def` included, so the few of its fields the request path needs are copied here).
struct alignas(64) CompiledRoute {
  // The first cache line.
  const model::Route* def = nullptr;  // the configuration it came from (owned by the Snapshot)
  // Never null in a built Snapshot, except for an aggregate route (which has `aggregate`).
  const CompiledService* service = nullptr;
  std::string_view display_name;  // def->name when there is one, else def->id
  uint32_t index = 0;             // position in Snapshot::routes()
  uint32_t method_mask = 0;       // bits for the common methods (see methodBit())
  bool strip_path = true;         // def->strip_path
  bool preserve_host = false;     // def->preserve_host
  bool needs_key = false;         // def->auth.type is api_key
  bool hide_credentials = false;  // def->auth.hide_credentials
  bool has_allow_groups = false;  // def->allow_groups is not empty
  bool is_aggregate = false;      // aggregate is not empty
  bool serves_http = true;        // def->protocols has "http"
  bool serves_https = true;       // def->protocols has "https"
  // The second. Null when the route has no such transform (then nothing is parsed or buffered).
  std::shared_ptr<const policy::CompiledRequestTransform> request_transform;
  std::shared_ptr<const policy::CompiledResponseTransform> response_transform;
  // def->rate_limit_policies resolved (by id, else name), in order, without repeats; they point
  // into the Snapshot's config. Empty (no allocation) when the route has none.
  std::vector<const model::RateLimitPolicy*> policies;
  std::vector<PathPattern> paths;  // empty: any path
  // Read only for some routes, or off the request path.
  std::vector<CompiledBackend> aggregate;       // empty: not an aggregate route
  std::vector<HostPattern> hosts;               // empty: any host
  std::vector<std::string_view> other_methods;  // methods without a bit (extension methods)
  std::vector<HeaderCondition> headers;

  const std::string& id() const { return def->id; }
  const std::string& name() const { return def->name; }
  // The name when there is one, else the id: for logs and explanations (display_name is the
  // same text, without touching the definition).
  const std::string& displayName() const { return def->name.empty() ? def->id : def->name; }
  bool stripPath() const { return strip_path; }
  // Whether the network layer passes the client's Host header upstream (else the target's
  // UpstreamTarget::authority).
  bool preserveHost() const { return preserve_host; }
  int priority() const { return def->priority; }

  bool isAggregate() const { return is_aggregate; }
  bool hasMethods() const { return method_mask != 0 || !other_methods.empty(); }
  // True when the route has no method list or `method` is in it. No allocation.
  bool allowsMethod(std::string_view method) const;
  // True when every header condition holds. No allocation.
  bool headersMatch(const HeaderView& request_headers) const;
  // The number of method/header constraints: more is more specific (a precedence tie-break).
  int constraintCount() const { return (hasMethods() ? 1 : 0) + static_cast<int>(headers.size()); }
};

// A bit for GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT; 0 for other methods.
uint32_t methodBit(std::string_view method);

}  // namespace turnpike::proxy
