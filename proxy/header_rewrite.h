// Header rewriting between the client and the upstream: the heads Turnpike sends, written as
// bytes straight from the parsed fields (the fields themselves are never edited).
//
//   std::string head;
//   appendUpstreamRequestHead(request.fields(), {.method = "GET", .target = "/v1/orders", ...},
//                             head);
//   appendClientResponseHead(response.fields(), {.status = 200, .framing = ...}, head);
//
// What changes on the way (RFC 9110 §7.6.1, RFC 9112 §6):
//   - hop-by-hop fields are dropped: Connection, every field a Connection token names,
//     Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade;
//   - the framing is the one of the message Turnpike sends (`BodyFraming`), never the one
//     received: Content-Length and Transfer-Encoding are written here, once;
//   - requests: Host, Expect, the X-Forwarded-* trio, X-Request-Id and the X-Consumer-* trio
//     are Turnpike's, whatever the client sent (X-Forwarded-For keeps the client's chain and
//     appends the peer address, as nginx's $proxy_add_x_forwarded_for); a "Proxy" field is
//     dropped (httpoxy);
//   - responses: X-Request-Id is added when the upstream sent none, and the caller's extra
//     fields (RateLimit-*) are appended;
//   - upgrades (WebSocket): the request asks for the client's Upgrade with
//     "Connection: Upgrade", and a 101 answer keeps its Connection and Upgrade fields exactly as
//     the upstream sent them;
//   - the route's header edits (request_transform / response_transform): fields named by
//     remove_headers or set_headers are dropped, rename_headers' are written under the new
//     name, set_headers' are appended.
// Field names keep the case they arrived in; values were checked by the parser (no CR, LF or
// NUL), so they are copied as they are.
//
// Pure functions; the thread that owns the message calls them. COST: one pass over the fields,
// appending to a string that keeps its capacity from one request to the next.
#pragma once

#include <boost/optional/optional.hpp>
#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/http_fields.h"
#include "proxy/policy/route_transforms.h"

namespace turnpike::proxy {

enum class BodyFraming : uint8_t {
  kNone,           // no framing field: no body, or (responses to HTTP/1.0) until close
  kContentLength,  // Content-Length: content_length
  kChunked,        // Transfer-Encoding: chunked; the caller chunks the body
  kAsReceived,     // responses without a body (HEAD, 304): Content-Length as the upstream sent it
};

struct ForwardingInfo {
  std::string_view client_ip;   // the peer address of the client connection
  std::string_view host;        // the Host the client asked for (empty: no X-Forwarded-Host)
  std::string_view proto;       // "http" or "https"
  std::string_view request_id;  // what X-Request-Id must carry
  // The client certificate the TLS handshake verified, as whole lines
  // ("X-Client-Cert-Subject: ...\r\nX-Client-Cert-Fingerprint: ...\r\n"); empty: none.
  std::string_view client_cert_fields;
};

struct UpstreamRequestHead {
  std::string_view method;
  std::string_view target;  // origin-form, already rewritten for the upstream
  std::string_view host;    // the Host field the upstream gets
  ForwardingInfo forwarding;
  std::string_view hide_header;  // a credential field not to pass on (empty: none)
  // Who is calling, as Turnpike established it: the consumer's X-Consumer-* lines
  // (CompiledConsumer::forwarded_fields); empty: anonymous, no X-Consumer-* at all.
  std::string_view consumer_fields;
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  // The protocols of the client's Upgrade field, to ask the upstream for (empty: no upgrade).
  std::string_view upgrade;
  // The route's request_transform header edits (null: none). They apply to the client's fields
  // only; the fields Turnpike writes are out of their reach (the model refuses such names).
  const policy::HeaderEdits* edits = nullptr;
};

// Appends "METHOD target HTTP/1.1\r\n", the fields and the blank line to `out`.
void appendUpstreamRequestHead(const Fields& fields, const UpstreamRequestHead& head,
                               std::string& out);

struct ClientResponseHead {
  unsigned status = 200;
  std::string_view reason;  // as the upstream sent it; empty: the standard phrase
  BodyFraming framing = BodyFraming::kNone;
  uint64_t content_length = 0;
  bool keep_alive = true;
  bool http10_client = false;   // keep-alive must then be said (Connection: keep-alive)
  std::string_view request_id;  // X-Request-Id, when the upstream sent none
  // Complete field lines ("Name: value\r\n"...) appended after the upstream's (RateLimit-*).
  std::string_view extra_fields;
  // A 101 that switches the connection to the upgraded protocol: Connection and Upgrade are
  // kept as received, and nothing about framing or keep-alive is added.
  bool upgrade = false;
  const policy::HeaderEdits* edits = nullptr;  // response_transform's (null: none)
};

// Appends "HTTP/1.1 status reason\r\n", the fields and the blank line to `out`.
void appendClientResponseHead(const Fields& fields, const ClientResponseHead& head,
                              std::string& out);

// Whether the comma-separated list `value` (a Connection or Upgrade field) holds `token`, ASCII
// case-insensitively, with the spaces around each item ignored.
bool hasToken(std::string_view value, std::string_view token);

// Whether response_transform.json reshapes this response: a 2xx JSON body, not content-encoded,
// not longer than the transform's cap by its Content-Length (`content_length`, the parser's).
bool reshapesJson(const ParsedMessage<false>& response,
                  const boost::optional<uint64_t>& content_length,
                  const policy::CompiledResponseTransform& transform);

// Whether the connection stays open after this message (RFC 9112 §9.3): HTTP/1.1 unless a
// Connection field says "close", HTTP/1.0 only when one says "keep-alive". What Beast's
// keep_alive() answers, from one scan of the fields by enum instead of a name lookup.
bool keepsAlive(const Fields& fields, unsigned version);

// A client-supplied X-Request-Id is kept when it is 1..200 visible ASCII characters.
bool isAcceptableRequestId(std::string_view id);

// GET, HEAD, PUT, DELETE, OPTIONS, TRACE (RFC 9110 §9.2.2): safe to send twice.
bool isIdempotentMethod(std::string_view method);

}  // namespace turnpike::proxy
