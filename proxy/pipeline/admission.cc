#include "proxy/pipeline/admission.h"

#include <algorithm>
#include <chrono>
#include <string>

#include "proxy/policy/key_auth.h"
#include "proxy/policy/rate_limiter.h"
#include "proxy/policy/route_transforms.h"
#include "proxy/worker.h"

namespace turnpike::proxy::pipeline {

namespace {

// 308 to the TLS listener for a plain request to a route without "http" in its protocols: the
// same URL, the host without its port, then the listener's port unless it is the default one.
// Without a TLS listener of our own, TLS is someone else's in front of us: the default port.
ProxyAnswer redirectToHttps(const ProxyOptions& options, Exchange& exchange) {
  std::string_view host = exchange.host;
  if (const std::size_t colon = host.rfind(':');
      colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos) {
    host = host.substr(0, colon);
  }
  std::string& location = exchange.refusal_detail;
  location = "https://";
  location.append(host);
  if (const uint16_t port = options.tls ? options.tls_port : 443; port != 443) {
    location.append(":").append(std::to_string(port));
  }
  if (exchange.raw_target.starts_with("/")) {
    location.append(exchange.raw_target);
  } else {  // absolute-form: the path and query only
    location.append(exchange.path);
    if (!exchange.query.empty()) location.append("?").append(exchange.query);
  }
  return ProxyAnswer{.status = 308,
                     .detail = "this route is served over HTTPS only",
                     .headers = {{"Location", location}}};
}

// Authentication, ACL and rate limits for the matched route: the answer to send when a policy
// refuses the request, or nullopt to go on. Sets the consumer, the tightest rate-limit decision
// and the credential to hide.
std::optional<ProxyAnswer> applyPolicies(Worker& worker, Exchange& exchange,
                                         std::string_view& hide_header,
                                         std::string_view& hide_query) {
  const CompiledRoute& route = *exchange.route;
  const int64_t now_unix =
      std::chrono::duration_cast<std::chrono::seconds>(exchange.wall_started.time_since_epoch())
          .count();
  const policy::KeyAuthResult auth =
      policy::authenticate(*exchange.snapshot, route, exchange.headers, exchange.query, now_unix,
                           &worker.verifiedKeys());
  auto unauthorized = [](std::string_view detail) {
    return ProxyAnswer{
        .status = 401, .detail = detail, .headers = {{"WWW-Authenticate", "ApiKey"}}};
  };
  switch (auth.outcome) {
    case policy::AuthOutcome::kMissing:
      return unauthorized("this route needs an API key");
    case policy::AuthOutcome::kUnknown:
      return unauthorized("the API key is not valid");
    case policy::AuthOutcome::kExpired:
      return unauthorized("the API key has expired");
    case policy::AuthOutcome::kNotRequired:
    case policy::AuthOutcome::kAuthenticated:
      break;
  }
  const CompiledConsumer* consumer = auth.entry ? auth.entry->consumer : nullptr;
  exchange.consumer = consumer;
  if (route.hide_credentials) {
    hide_header = auth.found_in_header;
    hide_query = auth.found_in_query;
  }
  if (!policy::allowedByGroups(route, consumer)) {
    return ProxyAnswer{.status = 403, .detail = "the consumer is not in a group this route allows"};
  }

  // Every policy of the route and of the consumer counts the request (a policy on both counts
  // once).
  std::vector<policy::RateLimitDecision>& decisions = exchange.decisions;
  decisions.clear();
  const auto now = exchange.started;  // read microseconds ago: no clock read of its own
  std::string& key = exchange.limiter_key;
  auto count = [&](const model::RateLimitPolicy& limit) {
    const std::string_view by = limit.key_by;
    key.clear();
    if (by == "consumer" && consumer) {
      key = consumer->def->id;
    } else if (by == "api_key" && auth.entry) {
      key = auth.entry->key->id;
    } else if (by == "route") {
      key = route.id();
    } else if (by.starts_with("header:")) {
      exchange.headers.visit(by.substr(7), [&](std::string_view value) {
        key.assign(value);
        return true;
      });
    }
    // Anonymous callers of a consumer/key policy, and requests without the header, are counted
    // by address (as Kong does).
    if (key.empty()) key = exchange.client_ip;
    decisions.push_back(worker.rateLimiter().hit(limit, key, now));
  };
  for (const model::RateLimitPolicy* limit : route.policies) count(*limit);
  if (consumer) {
    for (const model::RateLimitPolicy* limit : consumer->policies) {
      if (std::find(route.policies.begin(), route.policies.end(), limit) == route.policies.end()) {
        count(*limit);
      }
    }
  }
  if (decisions.empty()) return std::nullopt;
  exchange.rate_limit = policy::tightest(decisions);
  if (exchange.rate_limit->allowed) return std::nullopt;
  ProxyAnswer refused{.status = 429, .detail = "rate limit exceeded"};
  refused.headers.emplace_back("Retry-After", std::to_string(exchange.rate_limit->retry_after_s));
  exchange.appendRateLimitHeaders(refused.headers);
  return refused;
}

}  // namespace

std::optional<ProxyAnswer> admit(Worker& worker, Exchange& exchange) {
  // Pin the snapshot for the whole request: a publish in the middle changes nothing for it.
  exchange.snapshot = worker.snapshot();
  exchange.match = exchange.snapshot->router().match(
      RequestView{exchange.method, exchange.host, exchange.path, exchange.headers});
  if (!exchange.match) {
    exchange.refusal_detail = "no route matches " + exchange.method + " " + exchange.path;
    return ProxyAnswer{.status = 404, .detail = exchange.refusal_detail};
  }
  const CompiledRoute& route = *exchange.match.route;
  exchange.route = &route;
  if (!exchange.tls && !route.serves_http) return redirectToHttps(worker.options(), exchange);
  if (exchange.tls && !route.serves_https) {
    exchange.refusal_detail =
        "route '" + std::string(route.display_name) + "' serves plain HTTP only";
    return ProxyAnswer{.status = 404, .detail = exchange.refusal_detail};
  }

  // DESIGN.md's order: authentication, ACL, rate limits; then the upstream.
  std::string_view hide_header;
  std::string_view hide_query;
  if (auto refused = applyPolicies(worker, exchange, hide_header, hide_query)) return refused;
  if (route.isAggregate()) return std::nullopt;  // the codec calls the aggregate
  const CompiledService& service = *route.service;
  if (!hide_query.empty()) {
    exchange.query = policy::removeQueryParameter(exchange.query, hide_query);
  }
  const policy::CompiledRequestTransform* transform = route.request_transform.get();
  if (transform != nullptr && transform->editsQuery()) {
    exchange.query = transform->rewriteQuery(exchange.query);
  }
  exchange.upstream_target.clear();
  appendUpstreamTarget(exchange.match, exchange.path, exchange.query, exchange.upstream_target);
  if (transform != nullptr) transform->rewritePath(exchange.upstream_target);

  std::string& hash_key = exchange.hash_key;
  hash_key.clear();
  switch (service.hash_on) {
    case HashOn::kHeader:
      exchange.headers.visit(service.hash_header, [&](std::string_view value) {
        hash_key.assign(value);
        return true;
      });
      break;
    case HashOn::kConsumer:
      if (exchange.consumer) {
        hash_key = exchange.consumer->def->id;
        break;
      }
      [[fallthrough]];  // anonymous callers are spread by address
    case HashOn::kIp:
      hash_key = exchange.client_ip;
      break;
    case HashOn::kNone:
      break;
  }

  const bool has_body =
      exchange.framing == BodyFraming::kChunked ||
      (exchange.framing == BodyFraming::kContentLength && exchange.content_length > 0);
  exchange.retryable = isIdempotentMethod(exchange.method) && !has_body;
  // The upstream request: the client's, minus hop-by-hop fields, plus forwarding headers and
  // who is calling as Turnpike established it (a client cannot pose as a consumer). Written as
  // bytes by the codec once the target (and so the Host) is known.
  exchange.upstream_request = {
      .method = exchange.method,
      .target = exchange.upstream_target,
      .forwarding = {.client_ip = exchange.client_ip,
                     .host = exchange.host,
                     .proto = exchange.tls ? "https" : "http",
                     .request_id = exchange.request_id,
                     .client_cert_fields = exchange.client_cert_fields},
      .hide_header = hide_header,
      .framing = exchange.framing,
      .content_length = exchange.content_length,
      .edits = transform != nullptr ? &transform->headers() : nullptr,
  };
  if (exchange.consumer) {
    exchange.upstream_request.consumer_fields = exchange.consumer->forwarded_fields;
  }
  exchange.balancer = worker.balancer(service, exchange.snapshot->version());
  return std::nullopt;
}

}  // namespace turnpike::proxy::pipeline
