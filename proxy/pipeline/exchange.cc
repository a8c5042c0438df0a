#include "proxy/pipeline/exchange.h"

#include <charconv>
#include <cstring>

#include "proxy/access_log.h"
#include "proxy/proxy_metrics.h"
#include "proxy/worker.h"

namespace turnpike::proxy::pipeline {

void Exchange::start(Worker& worker) {
  started = Clock::now();
  wall_started = worker.wallTime(started);
  status = 0;
  bytes_sent = 0;
  bytes_received = 0;
  upstream_duration = std::chrono::microseconds(0);
  called_upstream = false;
  route = nullptr;
  consumer = nullptr;
  rate_limit.reset();
  target.url.clear();
  balancer.reset();
  target_index.reset();
}

void Exchange::record(Worker& worker) {
  if (status == 0) return;
  const auto total = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started);
  std::string_view route_name = route ? route->display_name : std::string_view();
  worker.metrics().record(route ? ProxyMetrics::RouteRef{.name = route_name,
                                                         .index = route->index,
                                                         .snapshot = snapshot->buildId()}
                                : ProxyMetrics::RouteRef{},
                          status, total, upstream_duration, called_upstream);
  worker.metrics().recordListener(tls);
  if (AccessLogBuffer* log = worker.accessLog()) {
    log->append(
        {.time = wall_started,
         .request_id = request_id,
         .client_ip = client_ip,
         .method = method,
         .host = host,
         .path = path,
         .protocol = protocol,
         .scheme = tls ? "https" : "http",
         .route = route_name,
         .consumer = consumer ? std::string_view(consumer->def->username) : std::string_view(),
         .status = status,
         .bytes_sent = bytes_sent,
         .bytes_received = bytes_received,
         .duration = total,
         .upstream_duration = upstream_duration,
         .target = target.url});
  }
  status = 0;
  snapshot.reset();
  balancer.reset();
}

void Exchange::appendRateLimitHeaders(
    std::vector<std::pair<std::string_view, std::string>>& headers) const {
  headers.emplace_back("RateLimit-Limit", std::to_string(rate_limit->limit));
  headers.emplace_back("RateLimit-Remaining", std::to_string(rate_limit->remaining));
  headers.emplace_back("RateLimit-Reset", std::to_string(rate_limit->reset_s));
}

std::string_view Exchange::rateLimitLines(RateLimitLines& storage) const {
  if (!rate_limit) return {};
  char* out = storage.text.data();
  auto line = [&out](std::string_view name, int64_t value) {
    std::memcpy(out, name.data(), name.size());
    out = std::to_chars(out + name.size(), out + name.size() + 20, value).ptr;
    *out++ = '\r';
    *out++ = '\n';
  };
  line("RateLimit-Limit: ", rate_limit->limit);
  line("RateLimit-Remaining: ", rate_limit->remaining);
  line("RateLimit-Reset: ", rate_limit->reset_s);
  return std::string_view(storage.text.data(), static_cast<std::size_t>(out - storage.text.data()));
}

}  // namespace turnpike::proxy::pipeline
