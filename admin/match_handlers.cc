#include "admin/match_handlers.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "admin/admin_api.h"
#include "admin/problem.h"
#include "proxy/request_view.h"
#include "proxy/router.h"
#include "proxy/snapshot_builder.h"

namespace turnpike::admin {
namespace {

using nlohmann::json;

constexpr std::string_view kHeaderPrefix = "header.";

// RFC 9110 tchar: what an HTTP method (a token) may hold.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

std::string lowerAscii(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

json nameOrNull(const std::string& name) { return name.empty() ? json(nullptr) : json(name); }

json idAndName(const std::string& id, const std::string& name) {
  return {{"id", id}, {"name", nameOrNull(name)}};
}

json policiesJson(const proxy::Snapshot& snapshot, const model::Route& route) {
  json policies = json::array();
  for (const std::string& id : route.rate_limit_policies) {
    std::string name;
    for (const model::RateLimitPolicy& policy : snapshot.config().rate_limit_policies) {
      if (policy.id == id) {
        name = policy.name;
        break;
      }
    }
    policies.push_back(idAndName(id, name));
  }
  return {{"auth", route.auth.type == model::AuthType::kApiKey ? "api_key" : "none"},
          {"allow_groups", route.allow_groups},
          {"rate_limit_policies", std::move(policies)}};
}

json matchedJson(const proxy::Snapshot& snapshot, const proxy::RouteMatch& match,
                 const MatchQuery& query) {
  if (!match) return nullptr;
  const proxy::CompiledRoute& route = *match.route;
  json params = json::object();
  for (const proxy::PathParam& param : match.params) {
    params[std::string(param.name)] = std::string(param.value);
  }
  json service = nullptr;
  if (route.service != nullptr) {
    service = idAndName(route.service->def->id, route.service->def->name);
  }
  return {{"route", idAndName(route.id(), route.name())},
          {"service", std::move(service)},
          {"path", match.path ? json(std::string(match.path->source())) : json(nullptr)},
          {"host_match", std::string(proxy::toString(match.host_kind))},
          {"path_match", std::string(proxy::toString(match.path_kind))},
          {"params", std::move(params)},
          {"upstream_target", proxy::upstreamTarget(match, query.path, query.query)},
          {"policies", policiesJson(snapshot, *route.def)}};
}

}  // namespace

model::Result<MatchQuery> matchQueryOf(const HttpRequest& request) {
  MatchQuery query;
  if (const std::string* method = request.queryParam("method")) {
    if (method->empty() || method->size() > 32 ||
        !std::all_of(method->begin(), method->end(), isTokenChar)) {
      return model::Error::invalidField("method", "must be an HTTP method such as GET");
    }
    query.method = *method;
  }
  if (const std::string* host = request.queryParam("host")) query.host = *host;

  const std::string* target = request.queryParam("path");
  if (target == nullptr || target->empty()) {
    return model::Error::invalidField("path",
                                      "is required: the request path to explain, e.g. "
                                      "/orders/7");
  }
  if (target->front() != '/') return model::Error::invalidField("path", "must start with '/'");
  proxy::TargetParts parts = proxy::splitTarget(*target);
  query.path = std::string(parts.path);
  query.query = std::string(parts.query);

  for (const auto& [name, value] : request.query) {
    if (!std::string_view(name).starts_with(kHeaderPrefix)) continue;
    std::string header = lowerAscii(std::string_view(name).substr(kHeaderPrefix.size()));
    if (header.empty() || !std::all_of(header.begin(), header.end(), isTokenChar)) {
      return model::Error::invalidField(name, "must be header.<name>=<value> with a header name");
    }
    query.headers[std::move(header)] = value;
  }
  return query;
}

json explainMatch(const proxy::Snapshot& snapshot, const MatchQuery& query) {
  std::vector<proxy::HeaderField> fields;
  fields.reserve(query.headers.size());
  for (const auto& [name, value] : query.headers) fields.push_back({name, value});
  proxy::RequestView view{query.method, query.host, query.path, proxy::HeaderView(fields)};
  proxy::MatchExplanation explanation = snapshot.router().explain(view);

  json routes = json::array();
  for (const proxy::RouteVerdict& verdict : explanation.routes) {
    routes.push_back({{"id", verdict.route->id()},
                      {"name", nameOrNull(verdict.route->name())},
                      {"verdict", std::string(proxy::toString(verdict.verdict))},
                      {"detail", verdict.detail},
                      {"lost_to", verdict.lost_to ? json(verdict.lost_to->id()) : json(nullptr)}});
  }
  json headers = json::object();
  for (const auto& [name, value] : query.headers) headers[name] = value;
  json request = {{"method", query.method},
                  {"host", query.host.empty() ? json(nullptr) : json(query.host)},
                  {"path", query.path},
                  {"query", query.query.empty() ? json(nullptr) : json(query.query)},
                  {"headers", std::move(headers)}};
  return {{"version", snapshot.version()},
          {"request", std::move(request)},
          {"matched", matchedJson(snapshot, explanation.match, query)},
          {"routes", std::move(routes)}};
}

HttpResponse getRouteMatch(Call& call) {
  auto query = matchQueryOf(call.request);
  if (!query) return problem(query.error());

  proxy::SnapshotConstSharedPtr snapshot;
  if (call.ctx.hooks.snapshot) snapshot = call.ctx.hooks.snapshot();
  if (snapshot == nullptr) {
    // No proxy in this process: explain with what the proxy would build from the store.
    auto config = call.ctx.store.loadConfig();
    if (!config) return problem(config.error());
    auto built = proxy::SnapshotBuilder::build(std::move(*config));
    if (!built) {
      return problem(500, "the stored configuration does not build: " + built.error().message,
                     built.error().fields);
    }
    snapshot = std::move(*built);
  }
  return jsonResponse(200, explainMatch(*snapshot, *query));
}

}  // namespace turnpike::admin
