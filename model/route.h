// Route: which requests go to which service, and under which policies.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "model/result.h"
#include "model/route_transform.h"

namespace turnpike::model {

enum class AuthType { kNone, kApiKey };

struct RouteAuth {
  AuthType type = AuthType::kNone;
  std::vector<std::string> key_names = {"apikey"};  // header / query names to read the key from
  bool hide_credentials = false;

  bool operator==(const RouteAuth&) const = default;
};

struct Route {
  std::string id;
  std::string name;  // optional (empty = none); unique when given; same charset as Service::name
  // On input: service id or name; as stored and returned: the service id. Empty exactly when
  // the route has `aggregate`.
  std::string service;
  std::vector<std::string> hosts;    // "api.example.com", "*.example.org", optional ":port"
  std::vector<std::string> paths;    // "/orders", "/users/{id}/orders", "~/v[0-9]+/items" (RE2)
  std::vector<std::string> methods;  // upper case tokens, "GET"
  std::map<std::string, std::vector<std::string>> headers;  // lower-cased name -> accepted values
  bool strip_path = true;
  bool preserve_host = false;
  // Which listeners serve the route: "http", "https" or both. A plain request to a route
  // without "http" is redirected (308) to the TLS listener.
  std::vector<std::string> protocols = {"http", "https"};
  int priority = 0;
  RouteAuth auth;
  std::vector<std::string> allow_groups;
  std::vector<std::string> rate_limit_policies;  // on input: ids or names; stored: ids
  std::optional<RequestTransform> request_transform;
  std::optional<ResponseTransform> response_transform;
  std::optional<Aggregate> aggregate;  // set: the route fans out instead of proxying
  std::vector<std::string> tags;
  int64_t created_at = 0;
  int64_t updated_at = 0;

  bool operator==(const Route&) const = default;
};

// The API form; `name` is null when empty, `service` null for an aggregate route; the
// transform and aggregate members appear only when set.
nlohmann::json toJson(const Route& route);

// Decodes and validates. Rules: at least one of hosts/paths/methods; `service` required unless
// `aggregate` is set (then it must be absent, and every "{param}" a backend path uses must be a
// parameter of every route path; only request_transform.set_headers applies); paths
// start with '/' or '~/' ('~' paths must compile as RE2); `{param}` segments are whole segments
// with unique names; hosts are valid names or "*." wildcards; methods are HTTP tokens;
// `auth.key_names` non-empty when type is api_key; `protocols` a non-empty set of "http" and
// "https". Field names as the client wrote them.
Result<Route> parseRoute(const nlohmann::json& body);

}  // namespace turnpike::model
