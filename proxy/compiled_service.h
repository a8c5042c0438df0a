// CompiledService: a model::Service resolved for the data plane — targets parsed into
// host/port/weight, balancing and hashing decoded, timeouts (the tunnels' idle timeout too) as
// durations.
//
// Lives inside a Snapshot and is immutable; pointers to it are valid while the Snapshot is
// alive. Upstream pools, health marks and balancer state are NOT here: they live beside the
// snapshot, keyed by id() and UpstreamTarget::url, so that a new snapshot keeps them.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.h"
#include "model/service.h"

namespace turnpike::proxy {

namespace tls {
class UpstreamContext;
}

struct UpstreamTarget {
  std::string url;        // as configured: the stable key for pools and health state
  std::string host;       // to resolve/connect: "10.0.0.5", "api.internal", "::1" (no brackets)
  uint16_t port = 80;     // explicit or the scheme's default
  int weight = 100;       // 0..1000; 0 = out of rotation
  bool tls = false;       // https://
  std::string authority;  // Host header value when the route does not preserve the client's:
                          // "api.internal", "api.internal:8080", "[::1]:8080"
  // https:// only: the url and a digest of the service's TLS settings, so that pooled
  // connections serve only services that would have verified them the same way.
  std::string tls_pool_key;

  // The key of this target's pooled connections (upstream/connection_pool.h).
  const std::string& poolKey() const { return tls ? tls_pool_key : url; }

  // Parses "http[s]://host[:port]" (an optional trailing '/' is tolerated; no path, query or
  // userinfo). Errors name no field.
  static model::Result<UpstreamTarget> parse(const model::Target& target);
};

// Which request property picks the target under consistent hashing.
enum class HashOn : uint8_t { kNone, kIp, kConsumer, kHeader };

struct CompiledService {
  const model::Service* def = nullptr;  // the configuration it came from (owned by the Snapshot)
  uint32_t index = 0;                   // position in Snapshot::services()
  std::vector<UpstreamTarget> targets;
  int total_weight = 0;  // sum of target weights; 0 = no target in rotation (503)
  model::LoadBalancing load_balancing = model::LoadBalancing::kRoundRobin;
  HashOn hash_on = HashOn::kNone;
  std::string hash_header;  // lower-case header name for HashOn::kHeader
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds read_timeout{30000};
  int retries = 2;
  // What the targets speak. Always kHttp1 in a built snapshot: the builder refuses the others
  // until the upstream client speaks HTTP/2.
  model::ServiceProtocol protocol = model::ServiceProtocol::kHttp1;
  // How long an upgraded connection (WebSocket and the like) may carry no byte either way.
  std::chrono::milliseconds idle_timeout{60000};
  // How connections to https:// targets speak TLS; null when the service has none.
  std::shared_ptr<const tls::UpstreamContext> tls;

  const std::string& id() const { return def->id; }
  const std::string& name() const { return def->name; }
};

}  // namespace turnpike::proxy
