// callBackend: one request of an aggregate route to one backend service, on the worker's own
// upstream pools: pick a target (the service's balancer), take a pooled keep-alive connection or
// connect, send a bodiless request, read the whole answer (at most kMaxBackendBody), give the
// connection back when it can carry another request.
//
//   BackendCall call{.service = backend.service,
//                    .head = {.method = "GET", .target = "/users/7", .forwarding = ...},
//                    .timeout = backend.timeout, .version = snapshot->version()};
//   BackendAnswer answer = co_await callBackend(worker, call);
//   if (answer.error.empty() && answer.status / 100 == 2) use(answer.body);
//
// The timeout bounds everything (connect, send, the whole answer); when it passes the socket is
// cancelled and `timed_out` is set. For an idempotent method, a reused connection that fails
// before any answer byte is replaced by a fresh one once (the upstream may have closed it while
// idle); other methods skip pooled connections the upstream has closed. Connect failures,
// resets and timeouts count as failures for passive health; any HTTP answer is a success.
//
// THREAD: on the worker's thread (its pool and balancers are not locked). Nothing throws but
// std::bad_alloc.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/compiled_service.h"
#include "proxy/header_rewrite.h"
#include "proxy/path_pattern.h"

namespace turnpike::proxy {

class Worker;

inline constexpr std::size_t kMaxBackendBody = 8 << 20;

struct BackendCall {
  const CompiledService* service = nullptr;
  // What to send: method, target, forwarding and consumer fields, the route's header edits and
  // the framing (no body); `host` is filled in with the picked target's authority.
  UpstreamRequestHead head;
  std::chrono::milliseconds timeout{0};
  int64_t version = 0;  // of the snapshot the route came from (for the balancer)
};

struct BackendAnswer {
  int status = 0;  // 0: no answer (see error)
  std::string content_type;
  std::string content_encoding;
  std::string body;
  std::string error;  // empty when an answer arrived
  bool timed_out = false;
  std::string url;  // the target that was asked (empty: none was usable)
};

boost::asio::awaitable<BackendAnswer> callBackend(Worker& worker, const BackendCall& call);

// A backend's path template ("/users/{id}/orders?since={since}") with the route's parameters
// filled in, into `out` (cleared first): in the path as received; in the query percent-decoded
// and encoded again (only RFC 3986 unreserved characters stay as they are), so that a value
// carrying '&', '=', '+' or '#' cannot change the query's shape. An unknown name is left empty.
void fillBackendTarget(std::string_view path, const std::vector<PathParam>& params,
                       std::string& out);

}  // namespace turnpike::proxy
