// Helpers shared by the proxy tests: terse model::Route / model::Config construction and a
// request holder that owns what a RequestView points to.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "proxy/request_view.h"
#include "proxy/snapshot.h"
#include "proxy/snapshot_builder.h"

namespace turnpike::proxy::testing {

inline constexpr const char* kServiceId = "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a01";

// A route named `name` (id "id-<name>") on the default service; chain setters for the rest.
class RouteDef {
 public:
  explicit RouteDef(std::string name) {
    route_.id = "id-" + name;
    route_.name = std::move(name);
    route_.service = kServiceId;
  }
  RouteDef& paths(std::vector<std::string> v) {
    route_.paths = std::move(v);
    return *this;
  }
  RouteDef& hosts(std::vector<std::string> v) {
    route_.hosts = std::move(v);
    return *this;
  }
  RouteDef& methods(std::vector<std::string> v) {
    route_.methods = std::move(v);
    return *this;
  }
  RouteDef& header(std::string name, std::vector<std::string> values) {
    route_.headers[std::move(name)] = std::move(values);
    return *this;
  }
  RouteDef& priority(int p) {
    route_.priority = p;
    return *this;
  }
  RouteDef& createdAt(int64_t t) {
    route_.created_at = t;
    return *this;
  }
  RouteDef& id(std::string v) {
    route_.id = std::move(v);
    return *this;
  }
  RouteDef& service(std::string v) {
    route_.service = std::move(v);
    return *this;
  }
  RouteDef& stripPath(bool v) {
    route_.strip_path = v;
    return *this;
  }
  RouteDef& preserveHost(bool v) {
    route_.preserve_host = v;
    return *this;
  }
  operator model::Route() const { return route_; }  // NOLINT: implicit for brace lists

 private:
  model::Route route_;
};

inline model::Service makeService(std::string id = kServiceId, std::string name = "svc",
                                  std::vector<std::string> urls = {"http://10.0.0.1:8080"}) {
  model::Service service;
  service.id = std::move(id);
  service.name = std::move(name);
  for (std::string& url : urls) service.targets.push_back({std::move(url), 100});
  return service;
}

inline model::Config makeConfig(std::vector<model::Route> routes, int64_t version = 1) {
  model::Config config;
  config.version = version;
  config.services.push_back(makeService());
  config.routes = std::move(routes);
  return config;
}

// Builds or fails the test.
inline SnapshotConstSharedPtr mustBuild(model::Config config) {
  auto built = SnapshotBuilder::build(std::move(config));
  EXPECT_TRUE(built.ok()) << (built.ok() ? "" : built.error().message);
  if (!built.ok()) return SnapshotBuilder::empty();
  return *built;
}

// Owns the strings a RequestView points into.
struct Request {
  std::string method = "GET";
  std::string host;
  std::string path = "/";
  std::vector<std::pair<std::string, std::string>> headers;

  // REQUIRES: *this outlives the view (and fields_ is rebuilt on each call).
  RequestView view() const {
    fields_.clear();
    for (const auto& [name, value] : headers) fields_.push_back({name, value});
    return RequestView{method, host, path, HeaderView(fields_)};
  }

 private:
  mutable std::vector<HeaderField> fields_;
};

inline Request req(std::string method, std::string host, std::string path,
                   std::vector<std::pair<std::string, std::string>> headers = {}) {
  Request r;
  r.method = std::move(method);
  r.host = std::move(host);
  r.path = std::move(path);
  r.headers = std::move(headers);
  return r;
}

// The display name of the matched route, or "-" for none.
inline std::string matchedName(const Snapshot& snapshot, const Request& request) {
  RouteMatch m = snapshot.router().match(request.view());
  return m ? m.route->displayName() : "-";
}

}  // namespace turnpike::proxy::testing
