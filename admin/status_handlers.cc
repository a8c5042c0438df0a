#include "admin/status_handlers.h"

#include <optional>
#include <string>
#include <vector>

#include "admin/admin_api.h"
#include "admin/openapi.h"
#include "admin/problem.h"
#include "admin/request_metrics.h"
#include "model/certificate.h"

#ifndef TURNPIKE_ADMIN_VERSION
#define TURNPIKE_ADMIN_VERSION "unknown"
#endif

namespace turnpike::admin {
namespace {

int64_t uptimeSeconds(const ApiContext& ctx) {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() -
                                                          ctx.started)
      .count();
}

std::vector<proxy::WorkerVersion> servedVersions(const ApiContext& ctx) {
  if (!ctx.hooks.served_versions) return {};
  return ctx.hooks.served_versions();
}

// proxy.workers, proxy.served_version (the lowest; null without workers) and proxy.in_sync
// (every worker serves the stored version or a newer one; true without workers).
nlohmann::json proxyJson(const ApiContext& ctx, int64_t stored_version) {
  nlohmann::json workers = nlohmann::json::array();
  std::optional<int64_t> lowest;
  for (const proxy::WorkerVersion& w : servedVersions(ctx)) {
    workers.push_back({{"worker", w.worker}, {"version", w.version}});
    if (!lowest || w.version < *lowest) lowest = w.version;
  }
  nlohmann::json last_build = ctx.hooks.last_build ? ctx.hooks.last_build() : nlohmann::json();
  return {{"workers", std::move(workers)},
          {"served_version", lowest ? nlohmann::json(*lowest) : nlohmann::json(nullptr)},
          {"in_sync", !lowest || *lowest >= stored_version},
          {"last_build", std::move(last_build)}};
}

// A Prometheus label value: backslash, double quote and newline escaped.
std::string labelValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string gauge(const std::string& name, const std::string& help) {
  return "# HELP " + name + " " + help + "\n# TYPE " + name + " gauge\n";
}

// A certificate that expires within this long is named in /status's warnings.
constexpr int64_t kExpiryWarningSeconds = 30 * 86400;

// Every stored certificate, in insertion order, page by page.
model::Result<std::vector<model::Certificate>> allCertificates(storage::ConfigStore& store) {
  std::vector<model::Certificate> out;
  storage::ListQuery query;
  query.size = 1000;
  for (;;) {
    auto page = store.list<model::Certificate>(query);
    if (!page) return page.error();
    for (model::Certificate& c : page->data) out.push_back(std::move(c));
    if (!page->next) return out;
    query.after = *page->next;
  }
}

// "in 9 days", "in 5 hours", "3 days ago": how far `seconds` from now is, roughly.
std::string roughly(int64_t seconds) {
  const int64_t span = seconds < 0 ? -seconds : seconds;
  const std::string amount = span >= 2 * 86400  ? std::to_string(span / 86400) + " days"
                             : span >= 2 * 3600 ? std::to_string(span / 3600) + " hours"
                                                : std::to_string(span / 60) + " minutes";
  return seconds < 0 ? amount + " ago" : "in " + amount;
}

// certificates: [{id, name, snis, not_after, expires_in_s}]; warnings: one sentence for each
// certificate that expired or expires within 30 days.
void addCertificates(const std::vector<model::Certificate>& certificates, int64_t now,
                     nlohmann::json& body) {
  nlohmann::json list = nlohmann::json::array();
  nlohmann::json warnings = nlohmann::json::array();
  for (const model::Certificate& c : certificates) {
    const int64_t left = c.not_after - now;
    list.push_back({{"id", c.id},
                    {"name", c.name},
                    {"snis", c.snis},
                    {"not_after", c.not_after},
                    {"expires_in_s", left}});
    if (left <= 0) {
      warnings.push_back("certificate '" + c.name + "' expired " + roughly(left));
    } else if (left <= kExpiryWarningSeconds) {
      warnings.push_back("certificate '" + c.name + "' expires " + roughly(left));
    }
  }
  body["certificates"] = std::move(list);
  body["warnings"] = std::move(warnings);
}

}  // namespace

HttpResponse getHealth(Call&) { return jsonResponse(200, {{"status", "ok"}}); }

HttpResponse getStatus(Call& call) {
  ApiContext& ctx = call.ctx;
  auto version = ctx.store.version();
  if (!version) return problem(version.error());
  auto counts = ctx.store.counts();
  if (!counts) return problem(counts.error());
  auto certificates = allCertificates(ctx.store);
  if (!certificates) return problem(certificates.error());
  nlohmann::json body = {{"config_version", *version},
                         {"proxy", proxyJson(ctx, *version)},
                         {"counts",
                          {{"services", counts->services},
                           {"routes", counts->routes},
                           {"consumers", counts->consumers},
                           {"api_keys", counts->api_keys},
                           {"rate_limit_policies", counts->rate_limit_policies},
                           {"certificates", counts->certificates}}},
                         {"uptime_s", uptimeSeconds(ctx)},
                         {"version", TURNPIKE_ADMIN_VERSION}};
  addCertificates(*certificates, unixNow(), body);
  HttpResponse response = jsonResponse(200, body);
  response.setHeader("X-Config-Version", std::to_string(*version));
  return response;
}

HttpResponse getMetrics(Call& call) {
  ApiContext& ctx = call.ctx;
  auto version = ctx.store.version();
  if (!version) return problem(version.error());
  auto counts = ctx.store.counts();
  if (!counts) return problem(counts.error());
  auto certificates = allCertificates(ctx.store);
  if (!certificates) return problem(certificates.error());

  std::string out = gauge("turnpike_config_version", "The stored configuration version.");
  out += "turnpike_config_version " + std::to_string(*version) + "\n";
  out += gauge("turnpike_entities", "Configured entities, by kind.");
  const std::pair<const char*, int64_t> kinds[] = {
      {"service", counts->services},
      {"route", counts->routes},
      {"consumer", counts->consumers},
      {"api_key", counts->api_keys},
      {"rate_limit_policy", counts->rate_limit_policies},
      {"certificate", counts->certificates}};
  for (const auto& [kind, count] : kinds) {
    out += "turnpike_entities{kind=\"" + std::string(kind) + "\"} " + std::to_string(count) + "\n";
  }
  if (!certificates->empty()) {
    out += gauge("turnpike_certificate_expiry_seconds",
                 "When each certificate's leaf expires (not_after), in Unix seconds.");
    for (const model::Certificate& c : *certificates) {
      out += "turnpike_certificate_expiry_seconds{certificate=\"" + labelValue(c.name) + "\"} " +
             std::to_string(c.not_after) + "\n";
    }
  }
  std::vector<proxy::WorkerVersion> served = servedVersions(ctx);
  if (!served.empty()) {
    out += gauge("turnpike_proxy_worker_config_version",
                 "The configuration version each proxy worker serves.");
    for (const proxy::WorkerVersion& w : served) {
      out += "turnpike_proxy_worker_config_version{worker=\"" + labelValue(w.worker) + "\"} " +
             std::to_string(w.version) + "\n";
    }
  }
  if (ctx.hooks.last_build) {
    nlohmann::json build = ctx.hooks.last_build();
    if (build.is_object() && build.value("duration_ms", nlohmann::json()).is_number()) {
      out += gauge("turnpike_snapshot_build_seconds",
                   "How long the last routing snapshot took to build.");
      out += "turnpike_snapshot_build_seconds " +
             std::to_string(build["duration_ms"].get<double>() / 1000.0) + "\n";
    }
  }
  out += gauge("turnpike_uptime_seconds", "Seconds since the admin API started.");
  out += "turnpike_uptime_seconds " + std::to_string(uptimeSeconds(ctx)) + "\n";
  out += ctx.metrics.render();
  if (ctx.hooks.proxy_metrics) out += ctx.hooks.proxy_metrics();

  HttpResponse response;
  response.setHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
  response.body = std::move(out);
  return response;
}

HttpResponse getOpenApi(Call&) { return jsonResponse(200, openApiDocument()); }

}  // namespace turnpike::admin
