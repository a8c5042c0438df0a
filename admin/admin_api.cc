#include "admin/admin_api.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>
#include <string_view>
#include <utility>

#include "admin/config_handlers.h"
#include "admin/entity_handlers.h"
#include "admin/handler_support.h"
#include "admin/match_handlers.h"
#include "admin/problem.h"
#include "admin/request_metrics.h"
#include "admin/status_handlers.h"
#include "model/entity_traits.h"

namespace turnpike::admin {
namespace {

struct RouteEntry {
  RouteSpec spec;
  HandlerFn handler;
  bool needs_auth = true;
  std::vector<std::string> segments;  // spec.path split at '/', "{x}" for parameters
};

bool isParam(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}

// "/a/b/" -> {"a", "b"}; "/" -> {}. One trailing slash is forgiven.
std::vector<std::string> splitPath(std::string_view path) {
  std::vector<std::string> segments;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path.empty()) return segments;
  size_t start = 0;
  while (true) {
    size_t slash = path.find('/', start);
    segments.emplace_back(path.substr(start, slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return segments;
}

RouteEntry makeRoute(std::string method, std::string path, HandlerFn handler,
                     bool needs_auth = true) {
  std::vector<std::string> segments = splitPath(path);
  return {{std::move(method), std::move(path)}, handler, needs_auth, std::move(segments)};
}

// The five operations of one entity collection, all served by the same templates.
template <class T>
void addEntityRoutes(std::vector<RouteEntry>& table) {
  std::string collection = "/" + std::string(model::EntityTraits<T>::kCollection);
  std::string item = collection + "/{id_or_name}";
  table.push_back(makeRoute("GET", collection, &listEntities<T>));
  table.push_back(makeRoute("POST", collection, &createEntity<T>));
  table.push_back(makeRoute("GET", item, &getEntity<T>));
  table.push_back(makeRoute("PUT", item, &putEntity<T>));
  table.push_back(makeRoute("PATCH", item, &patchEntity<T>));
  table.push_back(makeRoute("DELETE", item, &deleteEntity<T>));
}

const std::vector<RouteEntry>& routeTable() {
  static const std::vector<RouteEntry> table = [] {
    std::vector<RouteEntry> t;
    addEntityRoutes<model::Service>(t);
    addEntityRoutes<model::Route>(t);
    addEntityRoutes<model::Consumer>(t);
    addEntityRoutes<model::RateLimitPolicy>(t);
    addEntityRoutes<model::Certificate>(t);
    t.push_back(makeRoute("GET", "/consumers/{consumer}/keys", &listKeys));
    t.push_back(makeRoute("POST", "/consumers/{consumer}/keys", &createKey));
    t.push_back(makeRoute("GET", "/consumers/{consumer}/keys/{key_id}", &getKey));
    t.push_back(makeRoute("DELETE", "/consumers/{consumer}/keys/{key_id}", &deleteKey));
    t.push_back(makeRoute("GET", "/health", &getHealth, /*needs_auth=*/false));
    t.push_back(makeRoute("GET", "/routes/match", &getRouteMatch));
    t.push_back(makeRoute("GET", "/status", &getStatus));
    t.push_back(makeRoute("GET", "/config", &getConfig));
    t.push_back(makeRoute("PUT", "/config", &putConfig));
    t.push_back(makeRoute("GET", "/config/history", &listHistory));
    t.push_back(makeRoute("GET", "/config/history/{version}", &getHistoryEntry));
    t.push_back(makeRoute("POST", "/config/history/{version}/restore", &restoreVersion));
    t.push_back(makeRoute("GET", "/openapi.json", &getOpenApi));
    t.push_back(makeRoute("GET", "/metrics", &getMetrics));
    return t;
  }();
  return table;
}

// True when `segments` fits `route`; collects the parameter values.
bool matches(const RouteEntry& route, const std::vector<std::string>& segments,
             std::vector<std::string>* params) {
  if (route.segments.size() != segments.size()) return false;
  params->clear();
  for (size_t i = 0; i < segments.size(); ++i) {
    if (isParam(route.segments[i])) {
      if (segments[i].empty()) return false;
      params->push_back(segments[i]);
    } else if (route.segments[i] != segments[i]) {
      return false;
    }
  }
  return true;
}

// Of two templates that both match, the one with a literal segment where the other has a
// parameter, at the first place they differ, is the more specific (/routes/match beats
// /routes/{id_or_name}).
bool moreSpecific(const RouteEntry& a, const RouteEntry& b) {
  for (size_t i = 0; i < a.segments.size(); ++i) {
    bool a_param = isParam(a.segments[i]);
    bool b_param = isParam(b.segments[i]);
    if (a_param != b_param) return !a_param;
  }
  return false;
}

struct RouteMatch {
  const RouteEntry* route = nullptr;      // the entry for this method and path
  const RouteEntry* template_ = nullptr;  // the most specific path that matched, any method
  std::vector<std::string> params;
  std::string allow;  // the methods of every template that matched, for 405's Allow
};

// The most specific template that serves the method wins; only when no template serves it is
// the answer 405. So GET /routes/match explains a match while PUT /routes/match still replaces
// a route named "match" (which GET must address by id).
RouteMatch findRoute(const std::string& method, const std::string& path) {
  RouteMatch match;
  std::vector<std::string> segments = splitPath(path);
  std::vector<std::string> params;
  std::vector<std::string> allowed;
  for (const RouteEntry& entry : routeTable()) {
    if (!matches(entry, segments, &params)) continue;
    if (match.template_ == nullptr || moreSpecific(entry, *match.template_)) {
      match.template_ = &entry;
    }
    if (std::find(allowed.begin(), allowed.end(), entry.spec.method) == allowed.end()) {
      allowed.push_back(entry.spec.method);
    }
    if (entry.spec.method == method &&
        (match.route == nullptr || moreSpecific(entry, *match.route))) {
      match.route = &entry;
      match.params = params;
    }
  }
  if (match.route != nullptr) match.template_ = match.route;
  for (const std::string& m : allowed) {
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += m;
  }
  return match;
}

// The request path as it may appear in a log line: control characters (a decoded %0A) escaped.
std::string loggable(const std::string& path) {
  std::string out;
  for (char c : path.substr(0, 512)) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      out += '%';
      out += kHex[(c >> 4) & 0xf];
      out += kHex[c & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

HttpResponse internalError() noexcept {
  try {
    return problem(500, "internal error; see the server log");
  } catch (...) {
    HttpResponse bare;  // allocates nothing
    bare.status = 500;
    return bare;
  }
}

}  // namespace

AdminApi::AdminApi(storage::ConfigStore& store, AdminAuth auth, ProxyHooks hooks, UiAssets ui)
    : store_(store),
      auth_(std::move(auth)),
      hooks_(std::move(hooks)),
      ui_(std::move(ui)),
      started_(std::chrono::steady_clock::now()),
      metrics_(std::make_unique<RequestMetrics>()) {}

AdminApi::~AdminApi() = default;

const std::vector<RouteSpec>& AdminApi::routes() {
  static const std::vector<RouteSpec> specs = [] {
    std::vector<RouteSpec> out;
    for (const RouteEntry& entry : routeTable()) out.push_back(entry.spec);
    return out;
  }();
  return specs;
}

HttpResponse AdminApi::handle(const HttpRequest& request) const {
  HttpResponse response;
  try {
    response = dispatch(request);
  } catch (const std::exception& e) {
    response = internalError();
    try {
      spdlog::error("admin: {} {} failed: {}", request.method, loggable(request.path), e.what());
    } catch (...) {
      // Logging is best effort; the answer stands.
    }
  } catch (...) {
    response = internalError();
  }
  try {
    metrics_->record(request.method, response.status);
    if (request.method != "GET") {
      spdlog::info("admin: {} {} -> {} ({})", request.method, loggable(request.path),
                   response.status, actorOf(request));
    }
  } catch (...) {
    // Counting and logging are best effort; the answer stands.
  }
  return response;
}

HttpResponse AdminApi::dispatch(const HttpRequest& request) const {
  // The UI's files are public: the page asks for the token, and every call it makes carries it.
  if (UiAssets::isUiPath(request.path)) return ui_.serve(request);

  RouteMatch match = findRoute(request.method, request.path);

  // Unknown paths need a token too, so that the API's shape is not told to strangers.
  if (match.route == nullptr || match.route->needs_auth) {
    const std::string* authorization = request.header("authorization");
    if (authorization == nullptr || !auth_.allows(*authorization)) {
      HttpResponse response =
          problem(401, "a valid admin token is required (Authorization: Bearer <token>)");
      response.setHeader("WWW-Authenticate", "Bearer realm=\"turnpike-admin\"");
      return response;
    }
  }
  if (match.template_ == nullptr) return problem(404, "no such resource: " + request.path);
  if (match.route == nullptr) {
    HttpResponse response =
        problem(405, request.method + " is not allowed on " + match.template_->spec.path);
    response.setHeader("Allow", match.allow);
    return response;
  }
  if (request.body.size() > kMaxBodyBytes) {
    return problem(413, "request body is " + std::to_string(request.body.size()) +
                            " bytes; the limit is 1 MiB (1048576 bytes)");
  }

  // Every route but GET writes. The wait is parsed before the write, so that a bad parameter
  // changes nothing.
  std::optional<ProxyWait> wait;
  if (match.route->spec.method != "GET") {
    auto parsed = proxyWaitOf(request);
    if (!parsed) return problem(parsed.error());
    wait = *parsed;
  }

  ApiContext ctx{store_, hooks_, *metrics_, started_};
  Call call{ctx, request, std::move(match.params), actorOf(request)};
  HttpResponse response = match.route->handler(call);
  if (wait) response = awaitProxy(call, *wait, std::move(response));
  return response;
}

}  // namespace turnpike::admin
