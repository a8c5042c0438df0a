#include "proxy/snapshot_builder.h"

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <utility>

#include "model/api_key.h"

namespace turnpike::proxy {

namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string indexed(std::string_view collection, std::size_t index) {
  std::string out(collection);
  out.push_back('[');
  out.append(std::to_string(index));
  out.push_back(']');
  return out;
}

// Collects field errors; the first message becomes the Error's summary.
class Problems {
 public:
  void add(std::string field, std::string_view who, std::string message) {
    if (summary_.empty()) summary_ = std::string(who) + ": " + message;
    fields_.push_back({std::move(field), std::move(message)});
  }
  bool empty() const { return fields_.empty(); }
  model::Error error() && {
    std::string summary = std::move(summary_);
    if (fields_.size() > 1) {
      summary += " (and " + std::to_string(fields_.size() - 1) + " more problem" +
                 (fields_.size() > 2 ? "s)" : ")");
    }
    return model::Error::invalid(std::move(summary), std::move(fields_));
  }

 private:
  std::string summary_;
  model::FieldErrors fields_;
};

std::string serviceLabel(const model::Service& service, std::size_t index) {
  if (!service.name.empty()) return "service '" + service.name + "'";
  if (!service.id.empty()) return "service " + service.id;
  return "service #" + std::to_string(index);
}

std::string routeLabel(const model::Route& route, std::size_t index) {
  if (!route.name.empty()) return "route '" + route.name + "'";
  if (!route.id.empty()) return "route " + route.id;
  return "route #" + std::to_string(index);
}

std::string policyLabel(const model::RateLimitPolicy& policy, std::size_t index) {
  if (!policy.name.empty()) return "rate-limit policy '" + policy.name + "'";
  if (!policy.id.empty()) return "rate-limit policy " + policy.id;
  return "rate-limit policy #" + std::to_string(index);
}

std::string consumerLabel(const model::Consumer& consumer, std::size_t index) {
  if (!consumer.username.empty()) return "consumer '" + consumer.username + "'";
  if (!consumer.id.empty()) return "consumer " + consumer.id;
  return "consumer #" + std::to_string(index);
}

// Resolves policy references (ids, or names as a fallback) into `out`, in order, skipping
// repeats. An unknown one is a problem on `<field>.rate_limit_policies[j]`. Allocates nothing
// when `refs` is empty.
void resolvePolicies(const std::vector<std::string>& refs, const Snapshot& snapshot,
                     const std::string& field, const std::string& who,
                     std::vector<const model::RateLimitPolicy*>& out, Problems& problems) {
  if (refs.empty()) return;
  out.reserve(refs.size());
  for (std::size_t j = 0; j < refs.size(); ++j) {
    const model::RateLimitPolicy* policy = snapshot.findPolicy(refs[j]);
    if (policy == nullptr) {
      problems.add(field + indexed(".rate_limit_policies", j), who,
                   "rate-limit policy '" + refs[j] + "' not found");
    } else if (std::find(out.begin(), out.end(), policy) == out.end()) {
      out.push_back(policy);
    }
  }
}

void compileConsumer(const model::Consumer& def, uint32_t index, const Snapshot& snapshot,
                     CompiledConsumer& out, Problems& problems) {
  out.def = &def;
  out.index = index;
  std::string groups;
  for (const std::string& group : def.groups) {
    if (!groups.empty()) groups.push_back(',');
    groups.append(group);
  }
  out.forwarded_fields = consumerFields(def.id, def.username, groups);
  if (!def.rate_limit_policies.empty()) {
    resolvePolicies(def.rate_limit_policies, snapshot, indexed("consumers", index),
                    consumerLabel(def, index), out.policies, problems);
  }
}

// The part of an https:// target's pool key that names the service's TLS settings: connections
// made under other settings (another CA, another client certificate) are not shared.
std::string tlsPoolTag(const model::Service& def,
                       const std::vector<model::Certificate>& certificates) {
  static const model::ServiceTls kDefaults;
  const model::ServiceTls& settings = def.tls ? *def.tls : kDefaults;
  std::string material = settings.verify ? "verify" : "no-verify";
  for (const std::string* part :
       {&settings.ca, &settings.server_name, &settings.client_certificate}) {
    material += '\0';
    material += *part;
  }
  if (!settings.client_certificate.empty()) {
    auto client = std::find_if(certificates.begin(), certificates.end(),
                               [&](const auto& c) { return c.id == settings.client_certificate; });
    if (client != certificates.end()) {
      material += '\0';
      material += client->fingerprint_sha256;
    }
  }
  return model::sha256Hex(material).substr(0, 16);
}

void compileService(const model::Service& def, uint32_t index, const model::Config& config,
                    const tls::UpstreamContexts& contexts, CompiledService& out,
                    Problems& problems) {
  const std::string field = indexed("services", index);
  const std::string who = serviceLabel(def, index);
  out.def = &def;
  out.index = index;
  out.load_balancing = def.load_balancing;
  out.connect_timeout = std::chrono::milliseconds(def.connect_timeout_ms);
  out.read_timeout = std::chrono::milliseconds(def.read_timeout_ms);
  out.retries = def.retries;
  out.protocol = def.protocol;
  out.idle_timeout = std::chrono::milliseconds(def.idle_timeout_ms);
  if (def.protocol != model::ServiceProtocol::kHttp1) {
    // model::parseService refuses these before anything is stored; a configuration that
    // reaches the builder another way must not serve HTTP/2 targets with HTTP/1.1.
    const char* what = def.protocol == model::ServiceProtocol::kGrpc
                           ? " (gRPC over HTTP/2 to the targets)"
                           : " (HTTP/2 to the targets)";
    problems.add(field + ".protocol", who,
                 "protocol \"" + std::string(model::toString(def.protocol)) + "\"" + what +
                     " is not supported by this build yet");
  }
  out.targets.reserve(def.targets.size());
  std::string tls_tag;
  for (std::size_t t = 0; t < def.targets.size(); ++t) {
    model::Result<UpstreamTarget> target = UpstreamTarget::parse(def.targets[t]);
    if (!target) {
      problems.add(field + indexed(".targets", t) + ".url", who, target.error().message);
      continue;
    }
    if (target->tls) {
      if (!out.tls) {
        auto context = contexts.find(def.id);
        if (context == contexts.end() || !context->second) {
          problems.add(field + indexed(".targets", t) + ".url", who,
                       "no TLS context was built for the service's https targets");
          continue;
        }
        out.tls = context->second;
      }
      if (tls_tag.empty()) tls_tag = tlsPoolTag(def, config.certificates);
      target->tls_pool_key = target->url + "#" + tls_tag;
    }
    out.total_weight += target->weight;
    out.targets.push_back(std::move(*target));
  }

  std::string_view hash_on = def.hash_on;
  if (hash_on.empty()) {
    out.hash_on =
        def.load_balancing == model::LoadBalancing::kConsistentHash ? HashOn::kIp : HashOn::kNone;
  } else if (hash_on == "ip") {
    out.hash_on = HashOn::kIp;
  } else if (hash_on == "consumer") {
    out.hash_on = HashOn::kConsumer;
  } else if (hash_on.starts_with("header:") && hash_on.size() > 7) {
    out.hash_on = HashOn::kHeader;
    for (char c : hash_on.substr(7)) out.hash_header.push_back(lowerAscii(c));
  } else {
    problems.add(field + ".hash_on", who,
                 "hash_on must be \"ip\", \"consumer\" or \"header:<name>\"");
  }
}

void compileRoute(const model::Route& def, uint32_t index, const Snapshot& snapshot,
                  std::span<const CompiledService> services, CompiledRoute& out,
                  Problems& problems) {
  const std::string field = indexed("routes", index);
  const std::string who = routeLabel(def, index);
  out.def = &def;
  out.index = index;
  out.display_name = def.name.empty() ? def.id : def.name;
  out.strip_path = def.strip_path;
  out.preserve_host = def.preserve_host;
  out.needs_key = def.auth.type == model::AuthType::kApiKey;
  out.hide_credentials = def.auth.hide_credentials;
  out.has_allow_groups = !def.allow_groups.empty();
  out.serves_http =
      std::find(def.protocols.begin(), def.protocols.end(), "http") != def.protocols.end();
  out.serves_https =
      std::find(def.protocols.begin(), def.protocols.end(), "https") != def.protocols.end();

  if (def.aggregate) {
    const model::Aggregate& aggregate = *def.aggregate;
    out.aggregate.resize(aggregate.backends.size());
    for (std::size_t b = 0; b < aggregate.backends.size(); ++b) {
      const model::AggregateBackend& backend = aggregate.backends[b];
      CompiledBackend& compiled = out.aggregate[b];
      compiled.def = &backend;
      if (const CompiledService* service = snapshot.findService(backend.service)) {
        compiled.service = &services[service->index];
      } else {
        problems.add(field + indexed(".aggregate.backends", b) + ".service", who,
                     "service '" + backend.service + "' not found");
      }
      if (backend.json) compiled.json = policy::CompiledJsonShape::compile(*backend.json);
      compiled.timeout = std::chrono::milliseconds(
          backend.timeout_ms > 0 ? std::min(backend.timeout_ms, aggregate.timeout_ms)
                                 : aggregate.timeout_ms);
    }
    if (out.aggregate.empty()) problems.add(field + ".aggregate.backends", who, "no backends");
    out.is_aggregate = !out.aggregate.empty();
    if (!def.service.empty()) {
      problems.add(field + ".service", who, "an aggregate route has no service");
    }
  } else if (def.service.empty()) {
    problems.add(field + ".service", who, "service is required");
  } else if (const CompiledService* service = snapshot.findService(def.service)) {
    out.service = &services[service->index];
  } else {
    problems.add(field + ".service", who, "service '" + def.service + "' not found");
  }

  out.hosts.reserve(def.hosts.size());
  for (std::size_t h = 0; h < def.hosts.size(); ++h) {
    model::Result<HostPattern> host = HostPattern::parse(def.hosts[h]);
    if (!host) {
      problems.add(field + indexed(".hosts", h), who,
                   "host \"" + def.hosts[h] + "\": " + host.error().message);
      continue;
    }
    out.hosts.push_back(std::move(*host));
  }

  if (def.paths.size() >= std::numeric_limits<uint16_t>::max()) {
    problems.add(field + ".paths", who, "too many paths");
  } else {
    out.paths.reserve(def.paths.size());
    for (std::size_t p = 0; p < def.paths.size(); ++p) {
      model::Result<PathPattern> path = PathPattern::compile(def.paths[p]);
      if (!path) {
        problems.add(field + indexed(".paths", p), who,
                     "path \"" + def.paths[p] + "\": " + path.error().message);
        continue;
      }
      out.paths.push_back(std::move(*path));
    }
  }

  for (std::size_t m = 0; m < def.methods.size(); ++m) {
    const std::string& method = def.methods[m];
    if (method.empty()) {
      problems.add(field + indexed(".methods", m), who, "empty method");
    } else if (uint32_t bit = methodBit(method); bit != 0) {
      out.method_mask |= bit;
    } else {
      out.other_methods.push_back(method);
    }
  }

  out.headers.reserve(def.headers.size());
  for (const auto& [name, values] : def.headers) {
    if (name.empty()) {
      problems.add(field + ".headers", who, "empty header name");
      continue;
    }
    out.headers.push_back({name, values});
  }

  resolvePolicies(def.rate_limit_policies, snapshot, field, who, out.policies, problems);

  if (def.request_transform) {
    auto compiled = policy::CompiledRequestTransform::compile(*def.request_transform);
    if (compiled) {
      out.request_transform = std::move(*compiled);
    } else {
      problems.add(field + ".request_transform", who, compiled.error().message);
    }
  }
  if (def.response_transform) {
    out.response_transform = policy::CompiledResponseTransform::compile(*def.response_transform);
  }
}

}  // namespace

model::Result<SnapshotConstSharedPtr> SnapshotBuilder::build(const model::Config& config) {
  return build(model::Config(config));
}

model::Result<SnapshotConstSharedPtr> SnapshotBuilder::build(model::Config&& config) {
  return build(std::move(config), TlsMaterial{});
}

model::Result<SnapshotConstSharedPtr> SnapshotBuilder::build(model::Config&& config,
                                                             TlsMaterial tls) {
  const auto started = std::chrono::steady_clock::now();
  auto snapshot = std::make_shared<Snapshot>(Snapshot::PrivateTag{}, std::move(config));
  Snapshot& s = *snapshot;
  const model::Config& c = s.config_;
  Problems problems;

  constexpr std::size_t kMaxEntities = std::numeric_limits<uint32_t>::max();
  if (c.services.size() >= kMaxEntities || c.routes.size() >= kMaxEntities ||
      c.consumers.size() >= kMaxEntities || c.rate_limit_policies.size() >= kMaxEntities) {
    return model::Error::invalid("configuration too large");
  }

  // Services first: routes point into services_, which must not move afterwards.
  s.services_.resize(c.services.size());
  s.service_index_.reserve(c.services.size() * 2);
  for (uint32_t i = 0; i < c.services.size(); ++i) {
    const model::Service& def = c.services[i];
    compileService(def, i, c, tls.upstream, s.services_[i], problems);
    if (!s.service_index_.emplace(def.id, i).second) {
      problems.add(indexed("services", i) + ".id", serviceLabel(def, i),
                   "duplicate id '" + def.id + "'");
    }
  }
  for (uint32_t i = 0; i < c.services.size(); ++i) {
    const model::Service& def = c.services[i];
    if (!def.name.empty() && !s.service_index_.emplace(def.name, i).second &&
        s.service_index_.find(def.name)->second != i) {
      problems.add(indexed("services", i) + ".name", serviceLabel(def, i),
                   "duplicate name '" + def.name + "'");
    }
  }

  // Policies before consumers and routes, which resolve their references through the index.
  s.policy_index_.reserve(c.rate_limit_policies.size() * 2);
  for (uint32_t i = 0; i < c.rate_limit_policies.size(); ++i) {
    const model::RateLimitPolicy& def = c.rate_limit_policies[i];
    if (!s.policy_index_.emplace(def.id, i).second) {
      problems.add(indexed("rate_limit_policies", i) + ".id", policyLabel(def, i),
                   "duplicate id '" + def.id + "'");
    }
  }
  for (uint32_t i = 0; i < c.rate_limit_policies.size(); ++i) {
    const model::RateLimitPolicy& def = c.rate_limit_policies[i];
    if (!def.name.empty() && !s.policy_index_.emplace(def.name, i).second &&
        s.policy_index_.find(def.name)->second != i) {
      problems.add(indexed("rate_limit_policies", i) + ".name", policyLabel(def, i),
                   "duplicate name '" + def.name + "'");
    }
  }

  // Consumers before keys: key entries point into consumers_, which must not move afterwards.
  s.consumers_.resize(c.consumers.size());
  s.consumer_index_.reserve(c.consumers.size());
  for (uint32_t i = 0; i < c.consumers.size(); ++i) {
    const model::Consumer& def = c.consumers[i];
    compileConsumer(def, i, s, s.consumers_[i], problems);
    if (!s.consumer_index_.emplace(def.id, i).second) {
      problems.add(indexed("consumers", i) + ".id", consumerLabel(def, i),
                   "duplicate id '" + def.id + "'");
    }
  }

  // A key whose consumer is missing is skipped (the store's foreign key prevents it); two keys
  // with one hash would make authentication ambiguous, so that is an error.
  s.key_index_.reserve(c.api_keys.size());
  for (uint32_t i = 0; i < c.api_keys.size(); ++i) {
    const model::ApiKey& key = c.api_keys[i];
    const CompiledConsumer* consumer = s.findConsumer(key.consumer_id);
    if (consumer == nullptr) continue;
    if (!s.key_index_.emplace(key.key_hash, KeyEntry{&key, consumer}).second) {
      problems.add(indexed("api_keys", i) + ".key_hash", "api key " + key.id, "duplicate key_hash");
    }
  }

  s.routes_.resize(c.routes.size());
  s.route_index_.reserve(c.routes.size() * 2);
  for (uint32_t i = 0; i < c.routes.size(); ++i) {
    const model::Route& def = c.routes[i];
    compileRoute(def, i, s, s.services_, s.routes_[i], problems);
    if (!s.route_index_.emplace(def.id, i).second) {
      problems.add(indexed("routes", i) + ".id", routeLabel(def, i),
                   "duplicate id '" + def.id + "'");
    }
  }
  for (uint32_t i = 0; i < c.routes.size(); ++i) {
    const model::Route& def = c.routes[i];
    if (!def.name.empty() && !s.route_index_.emplace(def.name, i).second &&
        s.route_index_.find(def.name)->second != i) {
      problems.add(indexed("routes", i) + ".name", routeLabel(def, i),
                   "duplicate name '" + def.name + "'");
    }
  }
  if (!problems.empty()) return std::move(problems).error();

  s.router_ = Router::build(s.routes_);
  s.certificates_ = std::move(tls.certificates);
  s.built_at_ = std::chrono::system_clock::now();
  s.build_duration_ = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - started);
  return SnapshotConstSharedPtr(std::move(snapshot));
}

SnapshotConstSharedPtr SnapshotBuilder::empty() {
  static const SnapshotConstSharedPtr kEmpty = *build(model::Config{});
  return kEmpty;
}

}  // namespace turnpike::proxy
