// AdminApi: the admin REST API of API.md as a plain function from HttpRequest to HttpResponse.
//
// Thread-safe (the store serializes writes). Handlers are thin: parse -> ConfigStore ->
// serialize; errors are RFC 9457 problem+json with field-level `errors`.
//
//   AdminApi api(store, auth, {});
//   HttpResponse r = api.handle(request);
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "admin/admin_auth.h"
#include "admin/http_message.h"
#include "storage/config_store.h"

namespace turnpike::admin {

// What the data plane tells the admin API (filled in by app/ once the proxy exists).
struct ProxyHooks {
  // Versions served by each proxy worker; empty when no proxy runs in this process.
  std::function<std::vector<int64_t>()> served_versions;
  // Last snapshot build: {"duration_ms", "at", "error"}; null when none.
  std::function<nlohmann::json()> last_build;
};

// One route of the admin API, for dispatch and for the OpenAPI completeness test.
struct RouteSpec {
  std::string method;  // "GET"
  std::string path;    // OpenAPI template: "/services/{id_or_name}"
};

class RequestMetrics;

class AdminApi {
 public:
  AdminApi(storage::ConfigStore& store, AdminAuth auth, ProxyHooks hooks);
  ~AdminApi();

  HttpResponse handle(const HttpRequest& request) const;

  // Every method+path the API answers (excluding the UI's static files).
  static const std::vector<RouteSpec>& routes();

 private:
  storage::ConfigStore& store_;
  AdminAuth auth_;
  ProxyHooks hooks_;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<RequestMetrics> metrics_;  // thread-safe; counts every answer of handle()

  HttpResponse dispatch(const HttpRequest& request) const;
};

}  // namespace turnpike::admin
