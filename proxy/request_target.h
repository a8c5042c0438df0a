// RequestTarget: the request-target of an HTTP/1.1 request line, checked and normalized before
// routing (RFC 9112 §3.2, RFC 3986 §5.2.4).
//
//   auto target = parseRequestTarget(req.target());
//   if (!target) return badRequest(target.error());
//   RouteMatch m = router.match({method, host, target->path, headers});
//
// Accepted: origin-form ("/a/b?q") and absolute-form ("http://host/a/b?q", whose authority then
// replaces the Host header for routing). Refused: asterisk-form, authority-form (CONNECT is not
// proxied), empty targets, control characters, and paths that climb above the root.
//
// Normalization applied to the path (and sent upstream as normalized): "." and ".." segments are
// resolved, so "/public/../admin" cannot reach a route that "/admin" would not. Percent-encoding
// is left as received (routes compare raw bytes); a "%2e%2e" segment is not decoded.
#pragma once

#include <string>
#include <string_view>

namespace turnpike::proxy {

struct RequestTarget {
  std::string_view authority;  // absolute-form only: "host[:port]"; empty for origin-form
  std::string_view path;       // normalized; points into `storage` or into the input
  std::string_view query;      // without '?'; empty when none
  std::string storage;         // holds the normalized path when normalization changed it

  RequestTarget() = default;
  // Views may point into `storage`: moving or copying re-points them.
  RequestTarget(const RequestTarget& other);
  RequestTarget& operator=(const RequestTarget& other);
};

struct RequestTargetError {
  const char* reason = "";  // one sentence for the 400 problem body
};

// Returns false and fills `error` when the target is refused. `input` must outlive `out`
// (its views point into it unless normalization copied the path).
bool parseRequestTarget(std::string_view input, RequestTarget& out, RequestTargetError& error);

// Removes "." and ".." segments of an absolute path ("/a/./b/../c" -> "/a/c"). Returns false when
// ".." would climb above the root. Appends to `out`.
bool removeDotSegments(std::string_view path, std::string& out);

// True when `path` holds a "." or ".." segment (the fast check before removeDotSegments).
bool hasDotSegments(std::string_view path);

}  // namespace turnpike::proxy
