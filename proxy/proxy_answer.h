// The proxy's own answers (not the upstream's): RFC 9457 problem+json with X-Request-Id, as
// API.md's "The proxy's own answers" lists them. Rendered straight into wire bytes: these are on
// the request path (404 floods, 429s), so no JSON library and no Beast serializer.
//
//   std::string wire;
//   renderProblem({.status = 404, .detail = "no route matches GET /nope"}, request_id,
//                 /*keep_alive=*/true, wire);
//   co_await asio::async_write(socket, asio::buffer(wire), ...);
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnpike::proxy {

struct ProxyAnswer {
  int status = 500;
  std::string_view detail;  // one sentence for the caller; JSON-escaped when rendered
  // Extra header lines, e.g. {"WWW-Authenticate", "ApiKey"} or {"Retry-After", "3"}.
  std::vector<std::pair<std::string_view, std::string>> headers;
  // More members of the problem body, as JSON text without braces ("\"backends\":[...]").
  std::string_view extra_members;
};

// Appends a whole HTTP/1.1 response to `out`: status line, Content-Type, Content-Length,
// X-Request-Id, `Connection: close` unless `keep_alive`, the extra headers, and the body
// {"type":"about:blank","title":...,"status":...,"detail":...,"request_id":...}. A HEAD request
// gets the same headers without the body (`head`).
void renderProblem(const ProxyAnswer& answer, std::string_view request_id, bool keep_alive,
                   bool head, std::string& out);

// JSON string escaping (quotes, backslash, control characters); appends to `out`.
void appendJsonEscaped(std::string_view text, std::string& out);

}  // namespace turnpike::proxy
