// AdminApi: the admin REST API of API.md as a plain function from HttpRequest to HttpResponse.
//
// Thread-safe (the store serializes writes). Handlers are thin: parse -> ConfigStore ->
// serialize; errors are RFC 9457 problem+json with field-level `errors`.
//
// Every write (POST/PUT/PATCH/DELETE, PUT /config, restore) takes ?wait_for_proxy=true
// [&wait_timeout_ms=1..60000, default 5000]: after the commit, the answer waits until every proxy
// worker serves the written version (ProxyHooks::wait_for_version), or is 504 when it does not
// in time (the change stays stored; X-Config-Version says which version).
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
#include "admin/ui_assets.h"
#include "proxy/snapshot.h"
#include "proxy/snapshot_registry.h"
#include "storage/config_store.h"

namespace turnpike::admin {

// The proxy's read-only face, as the admin API sees it (filled in by app/). Every hook may be
// empty: the API then answers as if no proxy ran in this process. Hooks are called on admin
// threads, concurrently; they must be thread-safe.
struct ProxyHooks {
  // What each proxy worker serves (GET /status, /metrics); empty when no worker runs.
  std::function<std::vector<proxy::WorkerVersion>()> served_versions;
  // The last snapshot build, for GET /status's proxy.last_build (app::ConfigSync::lastBuild());
  // null when none.
  std::function<nlohmann::json()> last_build;
  // The snapshot the proxy serves, for GET /routes/match. Empty (or returning null): the
  // explanation uses a snapshot built from store.loadConfig().
  std::function<proxy::SnapshotConstSharedPtr()> snapshot;
  // Blocks until every worker serves `version` or `timeout` passes; true when reached
  // (app::ConfigSync::waitForVersion). Empty: ?wait_for_proxy=true succeeds at once.
  std::function<bool(int64_t version, std::chrono::milliseconds timeout)> wait_for_version;
  // The proxy's own Prometheus text (request counters and latency histograms, summed over the
  // workers: proxy::ProxyServer::metricsText()), appended to GET /metrics. Empty: none.
  std::function<std::string()> proxy_metrics;
};

// One route of the admin API, for dispatch and for the OpenAPI completeness test.
struct RouteSpec {
  std::string method;  // "GET"
  std::string path;    // OpenAPI template: "/services/{id_or_name}"
};

class RequestMetrics;

class AdminApi {
 public:
  // `ui` serves `/` and `/ui/…` without the token (the embedded files unless told otherwise).
  AdminApi(storage::ConfigStore& store, AdminAuth auth, ProxyHooks hooks,
           UiAssets ui = UiAssets::embedded());
  ~AdminApi();

  HttpResponse handle(const HttpRequest& request) const;

  // Every method+path the API answers (excluding the UI's static files).
  static const std::vector<RouteSpec>& routes();

 private:
  storage::ConfigStore& store_;
  AdminAuth auth_;
  ProxyHooks hooks_;
  UiAssets ui_;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<RequestMetrics> metrics_;  // thread-safe; counts every answer of handle()

  HttpResponse dispatch(const HttpRequest& request) const;
};

}  // namespace turnpike::admin
