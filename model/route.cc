#include "model/route.h"

#include <re2/re2.h>

#include <algorithm>
#include <set>
#include <utility>

#include "model/json_reader.h"
#include "model/validation.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

constexpr int kMaxPriority = 1000000;

bool isDigitsOnly(std::string_view text) {
  return !text.empty() &&
         std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Lower-cases `host` and checks "name[:port]", "*.name[:port]", "ipv4[:port]", "[ipv6][:port]".
std::string checkHost(std::string& host) {
  static constexpr char kMessage[] =
      "must be a host name, '*.' and a host name, or an IP address, with an optional ':port'";
  host = asciiLower(host);
  std::string_view name = host;
  std::string_view port;
  bool has_port = false;
  if (!name.empty() && name.front() == '[') {
    std::size_t close = name.find(']');
    if (close == std::string_view::npos || !isIpv6Literal(name.substr(1, close - 1))) {
      return kMessage;
    }
    std::string_view after = name.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return kMessage;
      has_port = true;
      port = after.substr(1);
    }
  } else {
    std::size_t colon = name.find(':');
    if (colon != std::string_view::npos) {
      has_port = true;
      port = name.substr(colon + 1);
      name = name.substr(0, colon);
    }
    bool wildcard = name.rfind("*.", 0) == 0;
    std::string_view base = wildcard ? name.substr(2) : name;
    if (!isValidHostName(base)) return kMessage;
    // "*.10.0.0.1" would match no real host name.
    std::size_t last_dot = base.rfind('.');
    if (wildcard &&
        isDigitsOnly(base.substr(last_dot == std::string_view::npos ? 0 : last_dot + 1))) {
      return kMessage;
    }
  }
  if (has_port) {
    // "http://a.com" splits into "http" and "//a.com": that is not a port, it is a wrong host.
    if (!isDigitsOnly(port)) return kMessage;
    if (!parsePort(port)) return "port must be between 1 and 65535";
  }
  return "";
}

bool isParamName(std::string_view name) {
  if (name.empty()) return false;
  auto alpha = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  if (!alpha(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

std::string checkPath(std::string& path) {
  if (path.empty() || (path[0] != '/' && path.rfind("~/", 0) != 0)) {
    return "must start with '/' or '~/'";
  }
  if (path[0] == '~') {
    RE2::Options options;
    options.set_log_errors(false);
    RE2 re(path.substr(1), options);
    if (!re.ok()) return "invalid regex: " + re.error();
    return "";
  }
  if (hasControlChars(path) || path.find(' ') != std::string::npos) {
    return "must not contain spaces or control characters";
  }
  if (path.find_first_of("?#") != std::string::npos) return "must not contain a query or fragment";
  std::set<std::string, std::less<>> params;
  std::size_t start = 1;
  while (start <= path.size()) {
    std::size_t slash = path.find('/', start);
    std::size_t end = slash == std::string::npos ? path.size() : slash;
    std::string_view segment = std::string_view(path).substr(start, end - start);
    if (segment.find_first_of("{}") != std::string_view::npos) {
      if (segment == "{}") return "has an empty parameter '{}'";
      bool whole = segment.size() >= 2 && segment.front() == '{' && segment.back() == '}' &&
                   std::count(segment.begin(), segment.end(), '{') == 1 &&
                   std::count(segment.begin(), segment.end(), '}') == 1;
      if (!whole) {
        return "parameter '" + std::string(segment) + "' must be a whole segment like '{name}'";
      }
      std::string_view name = segment.substr(1, segment.size() - 2);
      if (!isParamName(name)) {
        return "parameter name '" + std::string(name) + "' must match [A-Za-z_][A-Za-z0-9_]*";
      }
      if (!params.emplace(name).second) return "duplicate parameter '" + std::string(name) + "'";
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return "";
}

std::string checkHeaderName(std::string& name) {
  if (!isHttpToken(name)) return "must be a valid header name";
  return "";
}

std::string checkGroup(std::string& group) { return checkName(group); }

std::string checkPolicyRef(std::string& ref) { return checkReference(ref); }

void readHeaders(JsonReader& reader, std::map<std::string, std::vector<std::string>>* out) {
  const json* value = reader.get("headers");
  if (value == nullptr) return;
  if (!value->is_object()) {
    reader.addError("headers", "must be an object of header names to values");
    return;
  }
  std::map<std::string, std::vector<std::string>> headers;
  for (const auto& [raw_name, values] : value->items()) {
    std::string field = reader.path("headers") + "." + raw_name;
    std::string name = asciiLower(raw_name);
    if (!isHttpToken(name)) {
      reader.addError(field, "must be a valid header name");
      continue;
    }
    if (name == "host") {
      reader.addError(field, "use hosts to match the Host header");
      continue;
    }
    if (headers.count(name) != 0) {
      reader.addError(field, "duplicate header");
      continue;
    }
    std::vector<std::string> accepted;
    if (values.is_string()) {
      // A single value is a common shorthand for a one-element list.
      accepted.push_back(values.get<std::string>());
    } else if (values.is_array()) {
      if (values.empty()) {
        reader.addError(field, "must have at least one value");
        continue;
      }
      for (std::size_t i = 0; i < values.size(); ++i) {
        if (!values[i].is_string()) {
          reader.addError(indexPath(field, i), "must be a string");
          continue;
        }
        const std::string& v = values[i].get_ref<const std::string&>();
        if (std::find(accepted.begin(), accepted.end(), v) != accepted.end()) {
          reader.addError(indexPath(field, i), "duplicate value");
          continue;
        }
        accepted.push_back(v);
      }
    } else {
      reader.addError(field, "must be a string or an array of strings");
      continue;
    }
    for (const std::string& v : accepted) {
      if (hasControlChars(v)) {
        reader.addError(field, "values must not contain control characters");
        break;
      }
    }
    headers.emplace(std::move(name), std::move(accepted));
  }
  *out = std::move(headers);
}

void readAuth(JsonReader& reader, RouteAuth* auth) {
  const json* value = reader.get("auth");
  if (value == nullptr) return;
  JsonReader ar(*value, "auth", reader.errors());
  if (!ar.isObject()) return;
  std::string type;
  bool type_ok = true;
  if (ar.readString("type", &type)) {
    if (type == "none") {
      auth->type = AuthType::kNone;
    } else if (type == "api_key") {
      auth->type = AuthType::kApiKey;
    } else {
      type_ok = false;
      ar.addError(ar.path("type"), "must be one of none, api_key");
    }
  }
  bool names_ok = true;
  if (ar.get("key_names") != nullptr) {
    names_ok =
        ar.readStringArray("key_names", &auth->key_names, checkHeaderName, "duplicate key name");
  }
  if (type_ok && names_ok && auth->type == AuthType::kApiKey && auth->key_names.empty()) {
    ar.addError(ar.path("key_names"), "must not be empty when type is api_key");
  }
  ar.readBool("hide_credentials", &auth->hide_credentials);
  ar.finish();
}

bool nonEmpty(JsonReader& reader, std::string_view key) {
  const json* v = reader.get(key);
  return v != nullptr && !(v->is_array() && v->empty());
}

// The parameters every match of `path` yields: "{name}" segments, or a regex's named groups.
std::set<std::string> pathParams(const std::string& path) {
  std::set<std::string> names;
  if (path.rfind("~", 0) == 0) {
    RE2::Options options;
    options.set_log_errors(false);
    RE2 re(path.substr(1), options);
    for (const auto& [name, index] : re.NamedCapturingGroups()) names.insert(name);
    return names;
  }
  for (std::string& name : templateParams(path)) names.insert(std::move(name));
  return names;
}

// What only makes sense once the whole route is read: backend templates against the route's
// parameters, and which request transform steps an aggregate route can use.
void checkAggregateRoute(const Route& route, FieldErrors& errors) {
  std::vector<std::set<std::string>> provided;
  for (const std::string& path : route.paths) provided.push_back(pathParams(path));
  for (std::size_t i = 0; i < route.aggregate->backends.size(); ++i) {
    const std::string field = indexPath("aggregate.backends", i) + ".path";
    for (const std::string& name : templateParams(route.aggregate->backends[i].path)) {
      if (!isParamName(name)) {
        errors.push_back(
            {field, "parameter name '" + name + "' must match [A-Za-z_][A-Za-z0-9_]*"});
        continue;
      }
      const bool everywhere =
          !provided.empty() && std::all_of(provided.begin(), provided.end(),
                                           [&](const auto& names) { return names.count(name); });
      if (!everywhere) {
        errors.push_back(
            {field, "parameter '{" + name + "}' is not a parameter of every route path"});
      }
    }
  }
  if (const auto& t = route.request_transform) {
    const bool only_headers = t->remove_headers.empty() && t->rename_headers.empty() &&
                              t->set_query.empty() && t->remove_query.empty() && !t->rewrite_path;
    if (!only_headers) {
      errors.push_back({"request_transform",
                        "an aggregate route builds each backend request itself: only set_headers "
                        "applies"});
    }
  }
}

std::string checkProtocol(std::string& protocol) {
  if (protocol == "http" || protocol == "https") return "";
  return "must be \"http\" or \"https\"";
}

}  // namespace

json toJson(const Route& route) {
  json headers = json::object();
  for (const auto& [name, values] : route.headers) headers[name] = values;
  json auth = {{"type", route.auth.type == AuthType::kApiKey ? "api_key" : "none"},
               {"key_names", route.auth.key_names},
               {"hide_credentials", route.auth.hide_credentials}};
  json out = {{"id", route.id.empty() ? json(nullptr) : json(route.id)},
              {"name", route.name.empty() ? json(nullptr) : json(route.name)},
              {"service", route.service.empty() ? json(nullptr) : json(route.service)},
              {"hosts", route.hosts},
              {"paths", route.paths},
              {"methods", route.methods},
              {"headers", std::move(headers)},
              {"strip_path", route.strip_path},
              {"preserve_host", route.preserve_host},
              {"protocols", route.protocols},
              {"priority", route.priority},
              {"auth", std::move(auth)},
              {"allow_groups", route.allow_groups},
              {"rate_limit_policies", route.rate_limit_policies},
              {"tags", route.tags},
              {"created_at", route.created_at},
              {"updated_at", route.updated_at}};
  if (route.request_transform) out["request_transform"] = toJson(*route.request_transform);
  if (route.response_transform) out["response_transform"] = toJson(*route.response_transform);
  if (route.aggregate) out["aggregate"] = toJson(*route.aggregate);
  return out;
}

Result<Route> parseRoute(const json& body) {
  FieldErrors errors;
  Route route;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    readId(r, &route.id);
    if (r.readString("name", &route.name)) {
      std::string message = checkName(route.name);
      if (!message.empty()) r.addError("name", std::move(message));
    }
    const bool aggregate = r.get("aggregate") != nullptr;
    if (r.get("service") == nullptr) {
      if (!aggregate) r.addError("service", "is required");
    } else if (aggregate) {
      r.addError("service", "must be absent when aggregate is set: the backends name services");
    } else if (r.readString("service", &route.service)) {
      if (!checkReference(route.service).empty()) {
        r.addError("service", "must be a service id (UUID) or name");
      }
    }
    r.readStringArray("hosts", &route.hosts, checkHost, "duplicate host");
    r.readStringArray("paths", &route.paths, checkPath, "duplicate path");
    r.readStringArray("methods", &route.methods, checkMethod, "duplicate method");
    if (!nonEmpty(r, "hosts") && !nonEmpty(r, "paths") && !nonEmpty(r, "methods")) {
      r.addError("paths", "at least one of hosts, paths or methods is required");
    }
    readHeaders(r, &route.headers);
    r.readBool("strip_path", &route.strip_path);
    r.readBool("preserve_host", &route.preserve_host);
    if (r.readStringArray("protocols", &route.protocols, checkProtocol, "duplicate protocol") &&
        route.protocols.empty()) {
      r.addError("protocols", "must name at least one of \"http\" and \"https\"");
    }
    r.readInt("priority", -kMaxPriority, kMaxPriority, &route.priority);
    readAuth(r, &route.auth);
    r.readStringArray("allow_groups", &route.allow_groups, checkGroup, "duplicate group");
    r.readStringArray("rate_limit_policies", &route.rate_limit_policies, checkPolicyRef,
                      "duplicate policy");
    readRequestTransform(r, &route.request_transform);
    readResponseTransform(r, &route.response_transform);
    readAggregate(r, &route.aggregate);
    if (route.aggregate) checkAggregateRoute(route, errors);
    readTags(r, &route.tags);
    readTimestamps(r, &route.created_at, &route.updated_at);
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("route", std::move(errors));
  return route;
}

}  // namespace turnpike::model
