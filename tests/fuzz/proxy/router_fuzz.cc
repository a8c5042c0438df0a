// Fuzzes Router::match() on random configurations and requests.
//
// The input is text, one directive a line, so that seeds are readable and mutations stay close
// to real configurations:
//
//   route host=*.example.com path=/users/{id} method=GET header=x-v:1|2 priority=3 nostrip
//   request GET api.example.com /users/7 x-v:1
//
// Routes go through model::parseRoute() (what the admin API accepts; rejected routes are left
// out) and then SnapshotBuilder::build(). Every request is matched and checked against:
//   - the snapshot builds: a config of validated routes on an existing service is never refused;
//   - a match points at a route of the snapshot, one of its paths, and a matched length and
//     params inside the request path; its method and header filters pass;
//   - matching is deterministic (twice the same request, the same answer);
//   - match() agrees with explain(), which applies the same precedence rules by brute force;
//   - a catch-all route (no hosts, no header conditions, no paths or the path "/") that allows
//     the method means every request with that method matches some route;
//   - the upstream target always starts with '/'.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/config.h"
#include "model/route.h"
#include "proxy/request_view.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"
#include "proxy/snapshot_builder.h"

namespace turnpike::proxy {
namespace {

constexpr std::size_t kMaxRoutes = 12;
constexpr std::size_t kMaxRequests = 12;
constexpr std::size_t kMaxListItems = 4;
constexpr const char* kServiceId = "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a01";

struct FuzzRequest {
  std::string method;
  std::string host;
  std::string path;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Control bytes (NUL included) as \xNN, so that a report shows the whole text.
std::string printable(std::string_view text) {
  std::string out;
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", u);
      out += hex;
    } else {
      out += c;
    }
  }
  return out;
}

[[noreturn]] void fail(const std::string& what, const FuzzRequest* request = nullptr) {
  std::fprintf(stderr, "router_fuzz: invariant violated: %s\n", printable(what).c_str());
  if (request != nullptr) {
    std::fprintf(stderr, "  request: %s '%s' '%s'\n", printable(request->method).c_str(),
                 printable(request->host).c_str(), printable(request->path).c_str());
  }
  std::abort();
}

std::vector<std::string_view> splitOn(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  while (true) {
    std::size_t at = text.find(separator);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) break;
    text.remove_prefix(at + 1);
  }
  return parts;
}

std::vector<std::string_view> words(std::string_view line) {
  std::vector<std::string_view> out;
  for (std::string_view word : splitOn(line, ' ')) {
    if (!word.empty()) out.push_back(word);
  }
  return out;
}

std::string routeId(std::size_t index) {
  char id[37];
  std::snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012zx", index + 1);
  return id;
}

// A route from "route" directive words; validation is left to model::parseRoute().
model::Route routeOf(const std::vector<std::string_view>& args, std::size_t index) {
  model::Route route;
  route.id = routeId(index);
  route.name = "r" + std::to_string(index);
  route.service = kServiceId;
  route.created_at = static_cast<int64_t>(index % 3);
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string_view arg = args[i];
    std::size_t eq = arg.find('=');
    std::string_view key = arg.substr(0, eq);
    std::string value(eq == std::string_view::npos ? std::string_view() : arg.substr(eq + 1));
    if (key == "host" && route.hosts.size() < kMaxListItems) {
      route.hosts.push_back(value);
    } else if (key == "path" && route.paths.size() < kMaxListItems) {
      route.paths.push_back(value);
    } else if (key == "method" && route.methods.size() < kMaxListItems) {
      route.methods.push_back(value);
    } else if (key == "header" && route.headers.size() < kMaxListItems) {
      std::size_t colon = value.find(':');
      std::vector<std::string> accepted;
      if (colon != std::string::npos) {
        for (std::string_view v : splitOn(std::string_view(value).substr(colon + 1), '|')) {
          if (!v.empty() && accepted.size() < kMaxListItems) accepted.emplace_back(v);
        }
      }
      route.headers[value.substr(0, colon)] = std::move(accepted);
    } else if (key == "priority") {
      route.priority = static_cast<int>(std::strtol(value.c_str(), nullptr, 10) % 10);
    } else if (key == "nostrip") {
      route.strip_path = false;
    }
  }
  return route;
}

FuzzRequest requestOf(const std::vector<std::string_view>& args) {
  FuzzRequest request;
  request.method = args.size() > 1 ? args[1] : "GET";
  request.host = args.size() > 2 && args[2] != "-" ? args[2] : "";
  request.path = args.size() > 3 ? args[3] : "/";
  for (std::size_t i = 4; i < args.size() && request.headers.size() < kMaxListItems; ++i) {
    std::size_t colon = args[i].find(':');
    if (colon == std::string_view::npos) continue;
    request.headers.emplace_back(args[i].substr(0, colon), args[i].substr(colon + 1));
  }
  return request;
}

bool isCatchAllFor(const CompiledRoute& route, std::string_view method) {
  if (!route.hosts.empty() || !route.headers.empty() || !route.allowsMethod(method)) return false;
  if (route.def->paths.empty()) return true;
  for (const std::string& path : route.def->paths) {
    if (path == "/") return true;
  }
  return false;
}

bool within(std::string_view inner, std::string_view outer) {
  return inner.data() >= outer.data() && inner.data() + inner.size() <= outer.data() + outer.size();
}

void checkRequest(const Snapshot& snapshot, const FuzzRequest& request) {
  std::vector<HeaderField> fields;
  for (const auto& [name, value] : request.headers) fields.push_back({name, value});
  RequestView view{request.method, request.host, request.path, HeaderView(fields)};
  const Router& router = snapshot.router();

  RouteMatch m = router.match(view);
  RouteMatch again = router.match(view);
  if (m.route != again.route || m.path != again.path || m.matched_length != again.matched_length ||
      m.params != again.params) {
    fail("match() is not deterministic", &request);
  }

  std::span<const CompiledRoute> routes = snapshot.routes();
  if (m) {
    if (m.route < routes.data() || m.route >= routes.data() + routes.size()) {
      fail("match() returned a route outside the snapshot", &request);
    }
    if (m.path != nullptr && (m.path < m.route->paths.data() ||
                              m.path >= m.route->paths.data() + m.route->paths.size())) {
      fail("match() returned a path that is not one of the route's", &request);
    }
    if (m.matched_length > request.path.size()) fail("matched_length beyond the path", &request);
    for (const PathParam& param : m.params) {
      if (!within(param.value, request.path)) fail("a param value outside the path", &request);
    }
    if (!m.route->allowsMethod(request.method)) fail("matched route refuses the method", &request);
    if (!m.route->headersMatch(view.headers)) fail("matched route's headers fail", &request);
    std::string target = upstreamTarget(m, request.path, "q=1");
    if (target.empty() || target.front() != '/') fail("upstream target without '/'", &request);
  } else {
    for (const CompiledRoute& route : routes) {
      if (isCatchAllFor(route, request.method)) {
        fail("no match although route " + route.displayName() + " is a catch-all", &request);
      }
    }
  }

  MatchExplanation explanation = router.explain(view);
  if (explanation.routes.size() != routes.size()) fail("explain() skipped routes", &request);
  const CompiledRoute* selected = nullptr;
  for (const RouteVerdict& verdict : explanation.routes) {
    if (verdict.verdict != Verdict::kSelected) continue;
    if (selected != nullptr) fail("explain() selected two routes", &request);
    selected = verdict.route;
  }
  if (selected != m.route) {
    fail("match() picked " + (m ? m.route->displayName() : std::string("-")) +
             ", explain() picked " + (selected ? selected->displayName() : std::string("-")),
         &request);
  }
}

}  // namespace
}  // namespace turnpike::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turnpike;
  std::string_view input(reinterpret_cast<const char*>(data), size);

  model::Config config;
  config.version = 1;
  model::Service service;
  service.id = proxy::kServiceId;
  service.name = "svc";
  service.targets.push_back({"http://10.0.0.1:8080", 100});
  config.services.push_back(std::move(service));

  std::vector<proxy::FuzzRequest> requests;
  std::size_t route_lines = 0;
  for (std::string_view line : proxy::splitOn(input, '\n')) {
    std::vector<std::string_view> args = proxy::words(line);
    if (args.empty()) continue;
    if (args[0] == "route" && route_lines < proxy::kMaxRoutes) {
      model::Route route = proxy::routeOf(args, route_lines++);
      // Only what the admin API would have stored reaches the builder.
      model::Result<model::Route> valid = model::parseRoute(model::toJson(route));
      if (valid) config.routes.push_back(std::move(*valid));
    } else if (args[0] == "request" && requests.size() < proxy::kMaxRequests) {
      requests.push_back(proxy::requestOf(args));
    }
  }

  std::size_t route_count = config.routes.size();
  auto built = proxy::SnapshotBuilder::build(std::move(config));
  if (!built) proxy::fail("a config of validated routes did not build: " + built.error().message);
  const proxy::Snapshot& snapshot = **built;
  if (snapshot.routes().size() != route_count || snapshot.router().routeCount() != route_count) {
    proxy::fail("the snapshot lost routes");
  }
  for (const proxy::FuzzRequest& request : requests) proxy::checkRequest(snapshot, request);
  return 0;
}
