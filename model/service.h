// Service: where traffic goes. A named set of upstream targets with balancing, timeouts and
// health checking. Routes point at services by id.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/result.h"

namespace turnpike::model {

struct Target {
  std::string url;   // "http://host[:port]" (port 80) or "https://host[:port]" (port 443, TLS
                     // with the service's `tls` settings); no path, query or userinfo
  int weight = 100;  // 0..1000; 0 takes the target out of rotation

  bool operator==(const Target&) const = default;
};

struct HealthCheck {
  std::string path = "/";   // must start with '/'
  int interval_ms = 5000;   // >= 100
  int unhealthy_after = 3;  // >= 1
  int healthy_after = 2;    // >= 1

  bool operator==(const HealthCheck&) const = default;
};

enum class LoadBalancing { kRoundRobin, kLeastConnections, kConsistentHash };

// What the service's targets speak (API.md, service `protocol`): HTTP/1.1, or HTTP/2 (prior
// knowledge on http://, ALPN on https://), for gRPC as well.
enum class ServiceProtocol { kHttp1, kHttp2, kGrpc };

// How Turnpike speaks TLS to the service's https:// targets (API.md, service `tls`). A service
// without it uses the defaults: verification on against the system store, SNI and the name
// checked from the target host, no client certificate.
struct ServiceTls {
  bool verify = true;              // check the target's chain and name
  std::string ca;                  // PEM certificates to trust instead of the system store; ""
  std::string server_name;         // SNI and the name checked; "" = the target host
  std::string client_certificate;  // certificate id presented to the target (mTLS); "" = none.
                                   // A name on input; the store resolves it to the id.

  bool operator==(const ServiceTls&) const = default;
};

struct Service {
  std::string id;               // UUID v4
  std::string name;             // unique; [A-Za-z0-9._~-]{1,128}, not a UUID
  std::vector<Target> targets;  // at least one
  LoadBalancing load_balancing = LoadBalancing::kRoundRobin;
  std::string hash_on;  // consistent_hash only: "ip" | "consumer" | "header:<name>"; else empty
  int connect_timeout_ms = 2000;  // 1..600000
  int read_timeout_ms = 30000;    // 1..3600000
  int retries = 2;                // 0..10
  std::optional<HealthCheck> health_check;
  std::optional<ServiceTls> tls;  // null: the defaults
  // Only kHttp1 passes parseService for now: the data plane does not speak HTTP/2 to targets.
  ServiceProtocol protocol = ServiceProtocol::kHttp1;
  int idle_timeout_ms = 60000;  // 1..86400000; WebSocket and other upgraded tunnels
  std::vector<std::string> tags;
  int64_t created_at = 0;
  int64_t updated_at = 0;

  bool operator==(const Service&) const = default;
};

// The API form (API.md): snake_case fields, enums as strings, health_check and tls null when
// absent (tls's empty strings null as well).
nlohmann::json toJson(const Service& service);

// Decodes and validates a request body. Unknown fields, wrong types and rule violations come back
// as ErrorCode::kInvalid with one FieldError per problem. `id`, `created_at` and `updated_at` are
// accepted (the store decides whether to keep them). Defaults as in the struct. A `protocol` of
// "http2" or "grpc" is refused (on `protocol`) until the data plane speaks HTTP/2 to targets.
Result<Service> parseService(const nlohmann::json& body);

std::string_view toString(LoadBalancing lb);
std::string_view toString(ServiceProtocol protocol);  // "http1", "http2", "grpc"

}  // namespace turnpike::model
