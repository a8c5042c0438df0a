// Header rewriting between the client and the upstream: what a proxy must remove (hop-by-hop
// fields, RFC 9110 §7.6.1) and what it adds (X-Forwarded-*, X-Request-Id).
//
//   removeHopByHop(request.base());                // reads Connection's tokens first
//   setForwardingHeaders(request.base(), {.client_ip = "10.0.0.7", .host = "api.example.com",
//                                         .proto = "http", .request_id = id});
//
// Framing (Transfer-Encoding) is removed with the hop-by-hop fields; the caller re-applies the
// framing of the message it sends (chunked or Content-Length). Pure functions over Beast fields;
// the thread that owns the message calls them.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace turnpike::proxy {

// Removes Connection, every field named by a Connection token, Keep-Alive, Proxy-Connection,
// TE, Trailer, Transfer-Encoding and Upgrade.
void removeHopByHop(boost::beast::http::fields& fields);

struct ForwardingInfo {
  std::string_view client_ip;   // the peer address of the client connection
  std::string_view host;        // the Host the client asked for (empty: leave X-Forwarded-Host)
  std::string_view proto;       // "http" or "https"
  std::string_view request_id;  // what X-Request-Id must carry
};

// X-Forwarded-For gets the client address appended (", " separated, as nginx's
// $proxy_add_x_forwarded_for); X-Forwarded-Proto and X-Forwarded-Host are set (replacing what
// the client sent); X-Request-Id is set to `request_id`.
void setForwardingHeaders(boost::beast::http::fields& fields, const ForwardingInfo& info);

// A client-supplied X-Request-Id is kept when it is 1..200 visible ASCII characters.
bool isAcceptableRequestId(std::string_view id);

// GET, HEAD, PUT, DELETE, OPTIONS, TRACE (RFC 9110 §9.2.2): safe to send twice.
bool isIdempotentMethod(std::string_view method);

}  // namespace turnpike::proxy
