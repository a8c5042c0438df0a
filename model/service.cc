#include "model/service.h"

#include <utility>

#include "model/certificate.h"
#include "model/json_reader.h"
#include "model/validation.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

constexpr int kMaxWeight = 1000;
constexpr int kMaxConnectTimeoutMs = 600000;
constexpr int kMaxReadTimeoutMs = 3600000;
constexpr int kMaxRetries = 10;
constexpr int kMinIntervalMs = 100;
constexpr int kMaxIntervalMs = 86400000;  // a day; longer is no health check at all
constexpr int kMaxThreshold = 1000;
constexpr int kMaxIdleTimeoutMs = 86400000;  // a day

// Validates "http://host[:port][/]" or "https://host[:port][/]". Returns "" when valid; then
// sets `canonical` to "scheme://host[:port]" (scheme and host lower case, no trailing '/') so
// that the data plane can rely on one spelling, and `endpoint` to "host:port" (the port
// defaulted by the scheme: 80 or 443) to spot duplicates. The endpoint leaves out the scheme:
// one port speaks TLS or it does not, so http://a:443 and https://a are the same target, while
// http://a and https://a (ports 80 and 443) are two.
std::string checkTargetUrl(std::string_view url, std::string* canonical, std::string* endpoint) {
  constexpr std::string_view kForm = "must be an http://host[:port] or https://host[:port] URL";
  std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return std::string(kForm);
  std::string scheme = asciiLower(url.substr(0, scheme_end));
  if (scheme != "http" && scheme != "https") return std::string(kForm);

  std::string_view rest = url.substr(scheme_end + 3);
  std::size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  std::string_view tail =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (authority.find('@') != std::string_view::npos) return "must not contain userinfo";
  if (tail.find_first_of("?#") != std::string_view::npos) {
    return "must not contain a query or fragment";
  }
  if (!tail.empty() && tail != "/") return "must not contain a path";
  if (authority.empty()) return "must have a host";

  std::string_view host;
  std::string_view port_text;
  bool has_port = false;
  if (authority.front() == '[') {
    std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return "has an invalid IPv6 address";
    host = authority.substr(1, close - 1);
    if (!isIpv6Literal(host)) return "has an invalid IPv6 address";
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return "has an invalid host";
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    std::size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    // '_' is allowed because container names (docker compose services) often carry one.
    if (!isValidHostName(host, /*allow_underscore=*/true)) return "has an invalid host";
  }
  int port = scheme == "https" ? 443 : 80;
  if (has_port) {
    std::optional<int> parsed = parsePort(port_text);
    if (!parsed) return "port must be between 1 and 65535";
    port = *parsed;
  }
  std::string host_lower = asciiLower(host);
  *canonical = scheme + "://";
  *canonical += authority.front() == '[' ? "[" + host_lower + "]" : host_lower;
  if (has_port) *canonical += ":" + std::to_string(port);
  *endpoint = host_lower + ":" + std::to_string(port);
  return "";
}

std::optional<LoadBalancing> parseLoadBalancing(std::string_view text) {
  if (text == "round_robin") return LoadBalancing::kRoundRobin;
  if (text == "least_connections") return LoadBalancing::kLeastConnections;
  if (text == "consistent_hash") return LoadBalancing::kConsistentHash;
  return std::nullopt;
}

std::optional<ServiceProtocol> parseProtocol(std::string_view text) {
  if (text == "http1") return ServiceProtocol::kHttp1;
  if (text == "http2") return ServiceProtocol::kHttp2;
  if (text == "grpc") return ServiceProtocol::kGrpc;
  return std::nullopt;
}

// "protocol": one of the three names; http2 and grpc are refused here, not only when the
// snapshot is built, so that such a service is never stored: the proxy would keep every later
// configuration back until it was removed.
void readProtocol(JsonReader& reader, ServiceProtocol* out) {
  std::string text;
  if (!reader.readString("protocol", &text)) return;
  std::optional<ServiceProtocol> parsed = parseProtocol(text);
  if (!parsed) {
    reader.addError("protocol", "must be one of http1, http2, grpc");
  } else if (*parsed == ServiceProtocol::kHttp2) {
    reader.addError(
        "protocol",
        "protocol \"http2\" (HTTP/2 to the targets) is not supported by this build yet");
  } else if (*parsed == ServiceProtocol::kGrpc) {
    reader.addError(
        "protocol",
        "protocol \"grpc\" (gRPC over HTTP/2 to the targets) is not supported by this build yet");
  } else {
    *out = *parsed;
  }
}

void readTargets(JsonReader& reader, std::vector<Target>* targets) {
  const json* value = reader.get("targets");
  if (value == nullptr || (value->is_array() && value->empty())) {
    reader.addError("targets", "must have at least one target");
    return;
  }
  if (!value->is_array()) {
    reader.addError("targets", "must be an array of targets");
    return;
  }
  std::vector<std::pair<std::string, std::size_t>> endpoints;  // "host:port" of targets[i]
  for (std::size_t i = 0; i < value->size(); ++i) {
    std::string prefix = indexPath("targets", i);
    JsonReader tr((*value)[i], prefix, reader.errors());
    if (!tr.isObject()) continue;
    Target target;
    if (tr.get("url") == nullptr) {
      tr.addError(tr.path("url"), "is required");
    } else if (tr.readString("url", &target.url)) {
      std::string canonical;
      std::string endpoint;
      std::string message = checkTargetUrl(target.url, &canonical, &endpoint);
      if (!message.empty()) {
        tr.addError(tr.path("url"), std::move(message));
      } else {
        for (const auto& [seen, j] : endpoints) {
          if (seen == endpoint) {
            tr.addError(tr.path("url"),
                        "duplicate target: the same host and port as " + indexPath("targets", j));
            break;
          }
        }
        endpoints.emplace_back(std::move(endpoint), i);
        target.url = std::move(canonical);
      }
    }
    tr.readInt("weight", 0, kMaxWeight, &target.weight);
    tr.finish();
    targets->push_back(std::move(target));
  }
}

void readHealthCheck(JsonReader& reader, std::optional<HealthCheck>* out) {
  const json* value = reader.get("health_check");
  if (value == nullptr) return;  // null: no active health checking
  JsonReader hr(*value, "health_check", reader.errors());
  if (!hr.isObject()) return;
  HealthCheck check;
  if (hr.readString("path", &check.path)) {
    if (check.path.empty() || check.path.front() != '/') {
      hr.addError(hr.path("path"), "must start with '/'");
    } else if (hasControlChars(check.path) || check.path.find(' ') != std::string::npos) {
      hr.addError(hr.path("path"), "must not contain spaces or control characters");
    }
  }
  hr.readInt("interval_ms", kMinIntervalMs, kMaxIntervalMs, &check.interval_ms);
  hr.readInt("unhealthy_after", 1, kMaxThreshold, &check.unhealthy_after);
  hr.readInt("healthy_after", 1, kMaxThreshold, &check.healthy_after);
  hr.finish();
  *out = std::move(check);
}

// A "tls" object: every field optional, the defaults those of ServiceTls. Absent or null
// leaves `out` empty (the defaults apply all the same).
void readTls(JsonReader& reader, std::optional<ServiceTls>* out) {
  const json* value = reader.get("tls");
  if (value == nullptr) return;
  JsonReader tr(*value, "tls", reader.errors());
  if (!tr.isObject()) return;
  ServiceTls tls;
  tr.readBool("verify", &tls.verify);
  if (tr.readString("ca", &tls.ca)) {
    std::string message =
        tls.ca.size() > kMaxClientCaPemBytes
            ? "must be at most " + std::to_string(kMaxClientCaPemBytes / 1024) + " KiB"
            : checkCertificatesPem(tls.ca);
    if (!message.empty()) {
      tls.ca.clear();
      tr.addError(tr.path("ca"), std::move(message));
    }
  }
  if (tr.readString("server_name", &tls.server_name)) {
    // Names are case-insensitive; keep one spelling. Unlike target hosts, no '_': this is the
    // name the target's certificate must hold.
    tls.server_name = asciiLower(tls.server_name);
    if (!isValidHostName(tls.server_name) && !isIpv6Literal(tls.server_name)) {
      tls.server_name.clear();
      tr.addError(tr.path("server_name"),
                  "must be a DNS host name or an IP address (IPv6 without brackets)");
    }
  }
  if (tr.readString("client_certificate", &tls.client_certificate)) {
    std::string message = checkReference(tls.client_certificate);
    if (!message.empty()) {
      tls.client_certificate.clear();
      tr.addError(tr.path("client_certificate"), std::move(message));
    }
  }
  tr.finish();
  *out = std::move(tls);
}

json nullIfEmpty(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

}  // namespace

std::string_view toString(LoadBalancing lb) {
  switch (lb) {
    case LoadBalancing::kRoundRobin:
      return "round_robin";
    case LoadBalancing::kLeastConnections:
      return "least_connections";
    case LoadBalancing::kConsistentHash:
      return "consistent_hash";
  }
  return "round_robin";
}

std::string_view toString(ServiceProtocol protocol) {
  switch (protocol) {
    case ServiceProtocol::kHttp1:
      return "http1";
    case ServiceProtocol::kHttp2:
      return "http2";
    case ServiceProtocol::kGrpc:
      return "grpc";
  }
  return "http1";
}

json toJson(const Service& service) {
  json targets = json::array();
  for (const Target& t : service.targets) targets.push_back({{"url", t.url}, {"weight", t.weight}});
  json health = nullptr;
  if (service.health_check) {
    const HealthCheck& h = *service.health_check;
    health = {{"path", h.path},
              {"interval_ms", h.interval_ms},
              {"unhealthy_after", h.unhealthy_after},
              {"healthy_after", h.healthy_after}};
  }
  json tls = nullptr;
  if (service.tls) {
    const ServiceTls& t = *service.tls;
    tls = {{"verify", t.verify},
           {"ca", nullIfEmpty(t.ca)},
           {"server_name", nullIfEmpty(t.server_name)},
           {"client_certificate", nullIfEmpty(t.client_certificate)}};
  }
  return {{"id", service.id.empty() ? json(nullptr) : json(service.id)},
          {"name", service.name},
          {"targets", std::move(targets)},
          {"load_balancing", toString(service.load_balancing)},
          {"hash_on", service.hash_on.empty() ? json(nullptr) : json(service.hash_on)},
          {"connect_timeout_ms", service.connect_timeout_ms},
          {"read_timeout_ms", service.read_timeout_ms},
          {"retries", service.retries},
          {"protocol", toString(service.protocol)},
          {"idle_timeout_ms", service.idle_timeout_ms},
          {"health_check", std::move(health)},
          {"tls", std::move(tls)},
          {"tags", service.tags},
          {"created_at", service.created_at},
          {"updated_at", service.updated_at}};
}

Result<Service> parseService(const json& body) {
  FieldErrors errors;
  Service service;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    readId(r, &service.id);
    if (r.get("name") == nullptr) {
      r.addError("name", "is required");
    } else if (r.readString("name", &service.name)) {
      std::string message = checkName(service.name);
      if (!message.empty()) r.addError("name", std::move(message));
    }
    readTargets(r, &service.targets);

    bool lb_ok = true;
    std::string lb;
    if (r.readString("load_balancing", &lb)) {
      std::optional<LoadBalancing> parsed = parseLoadBalancing(lb);
      if (parsed) {
        service.load_balancing = *parsed;
      } else {
        lb_ok = false;
        r.addError("load_balancing",
                   "must be one of round_robin, least_connections, consistent_hash");
      }
    } else if (r.get("load_balancing") != nullptr) {
      lb_ok = false;
    }
    std::string hash_on;
    bool hash_on_typed = r.readString("hash_on", &hash_on);
    if (lb_ok && (hash_on_typed || r.get("hash_on") == nullptr)) {
      bool consistent = service.load_balancing == LoadBalancing::kConsistentHash;
      if (consistent && hash_on.empty()) {
        r.addError("hash_on", "is required when load_balancing is consistent_hash");
      } else if (!consistent && !hash_on.empty()) {
        r.addError("hash_on", "is only allowed when load_balancing is consistent_hash");
      } else if (consistent) {
        std::string message = checkKeySelector(hash_on, {"ip", "consumer"});
        if (message.empty()) {
          service.hash_on = std::move(hash_on);
        } else {
          r.addError("hash_on", std::move(message));
        }
      }
    }

    r.readInt("connect_timeout_ms", 1, kMaxConnectTimeoutMs, &service.connect_timeout_ms);
    r.readInt("read_timeout_ms", 1, kMaxReadTimeoutMs, &service.read_timeout_ms);
    r.readInt("retries", 0, kMaxRetries, &service.retries);
    readProtocol(r, &service.protocol);
    r.readInt("idle_timeout_ms", 1, kMaxIdleTimeoutMs, &service.idle_timeout_ms);
    readHealthCheck(r, &service.health_check);
    readTls(r, &service.tls);
    readTags(r, &service.tags);
    readTimestamps(r, &service.created_at, &service.updated_at);
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("service", std::move(errors));
  return service;
}

}  // namespace turnpike::model
