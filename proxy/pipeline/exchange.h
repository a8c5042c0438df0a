// Exchange: one request and its answer, whatever protocol carried them.
//
// A connection codec (http1/, later http2/) reads a request head, fills the request half of an
// Exchange (what was asked, by whom, over what), and hands it to the pipeline
// (pipeline/admission.h), which routes it and applies the route's policies. The codec then
// carries the exchange to the upstream and back, recording on it what happened (the target, the
// status, the bytes), and ends it with record(), which writes the access log line and the
// metrics. The pipeline never sees bytes or framing; the codec never decides a route or a
// policy.
//
//   exchange.start(worker);
//   exchange.method = ...; exchange.host = ...; exchange.headers = HeaderView::ofFields(...);
//   if (std::optional<ProxyAnswer> refused = pipeline::admit(worker, exchange)) { answer it }
//   ... upstream exchange, sets exchange.status, bytes_sent, target ...
//   exchange.record(worker);
//
// One Exchange object is reused for the requests of an HTTP/1.1 connection (its strings keep
// their capacity from one request to the next); an HTTP/2 stream has one of its own.
//
// THREAD: the worker thread that owns the connection.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/compiled_consumer.h"
#include "proxy/compiled_route.h"
#include "proxy/compiled_service.h"
#include "proxy/header_rewrite.h"
#include "proxy/policy/rate_limiter.h"
#include "proxy/request_view.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"
#include "proxy/upstream/service_balancer.h"

namespace turnpike::proxy {

class Worker;

namespace pipeline {

class Exchange {
 public:
  using Clock = std::chrono::steady_clock;

  // Begins a request: the clocks, and every result of the previous one cleared. The request
  // half is the caller's to fill next.
  void start(Worker& worker);
  // The access log line and metrics of a request that got an answer (status != 0), then lets go
  // of the snapshot and balancer it held. Idempotent.
  void record(Worker& worker);

  // The current index of the target this request uses (the balancer may have been rebound to a
  // newer snapshot while the request waited); nullopt when the target is gone.
  std::optional<std::size_t> currentIndex() const {
    if (balancer->generation() == picked_generation) return target_index;
    return balancer->indexOf(target.url);
  }
  void reportFailure() {
    if (auto index = currentIndex()) balancer->reportFailure(*index, Clock::now());
  }
  void reportSuccess() {
    if (auto index = currentIndex()) balancer->reportSuccess(*index);
  }

  // The RateLimit-* fields of the tightest policy that counted the request (none: no policy).
  void appendRateLimitHeaders(std::vector<std::pair<std::string_view, std::string>>& headers) const;
  // The same as complete lines ("RateLimit-Limit: 10\r\n"...), written into `storage` in one
  // pass (three appends cost twice as much); the returned view points into `storage`.
  struct RateLimitLines {
    std::array<char, 128> text;  // three names (55 bytes), three int64 values, CRLFs
  };
  std::string_view rateLimitLines(RateLimitLines& storage) const;

  // --- The request, as the codec read it ------------------------------------------------
  Clock::time_point started;
  std::chrono::system_clock::time_point wall_started;
  std::string request_id;  // the client's when acceptable, else a new one
  std::string method;
  std::string host;             // Host / :authority, or the authority of an absolute-form target
  std::string path;             // without the query, not decoded
  std::string query;            // without the '?'
  std::string_view raw_target;  // the request target as received (for redirects)
  HeaderView headers;           // the client's fields; valid until the head is released
  std::string_view protocol;    // "HTTP/1.1", "HTTP/1.0", "HTTP/2": for the access log
  std::string_view client_ip;
  bool tls = false;                          // arrived on the TLS listener
  std::string_view client_cert_fields;       // X-Client-Cert-* lines of a verified certificate
  BodyFraming framing = BodyFraming::kNone;  // of the request body, as the upstream gets it
  uint64_t content_length = 0;               // with BodyFraming::kContentLength

  // --- What admit() decided ----------------------------------------------------------------
  SnapshotConstSharedPtr snapshot;  // pinned for the whole request
  RouteMatch match;
  const CompiledRoute* route = nullptr;
  const CompiledConsumer* consumer = nullptr;
  std::optional<policy::RateLimitDecision> rate_limit;  // the tightest, for RateLimit-* fields
  std::string upstream_target;                          // origin-form target for the upstream
  std::string hash_key;                  // what consistent hashing picks the target by
  std::string refusal_detail;            // a refusal's detail, when it is not a literal
  bool retryable = false;                // idempotent and bodiless: may go out twice
  UpstreamRequestHead upstream_request;  // views into the members above (host set per target)
  std::shared_ptr<upstream::ServiceBalancer> balancer;

  // --- What happened -----------------------------------------------------------------------
  UpstreamTarget target;  // the picked one (url empty: none yet)
  std::optional<std::size_t> target_index;
  uint64_t picked_generation = 0;
  int status = 0;               // the status the client got; 0: none yet (nothing is recorded)
  uint64_t bytes_sent = 0;      // body bytes to the client (for a tunnel: its bytes that way)
  uint64_t bytes_received = 0;  // a tunnel's bytes from the client
  std::chrono::microseconds upstream_duration{0};
  bool called_upstream = false;

  // Scratch space of the policies, kept for its capacity.
  std::vector<policy::RateLimitDecision> decisions;
  std::string limiter_key;
};

}  // namespace pipeline
}  // namespace turnpike::proxy
