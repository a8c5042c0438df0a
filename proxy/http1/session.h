// The HTTP/1.1 codec: one client connection on one worker, from accept to close.
//
// A TLS connection first waits for its first byte (an idle connection holds no TLS state),
// then completes the handshake under the header timeout; the certificate comes from the
// snapshot current at that moment (tls/tls_listener.h). Requests then go as below, with
// X-Forwarded-Proto: https and, when the client presented a verified certificate,
// X-Client-Cert-Subject and X-Client-Cert-Fingerprint. A route whose `protocols` lack "http"
// answers a plain request with 308 to the same URL on the TLS listener.
//
// HTTP/2: when the handshake agreed on "h2" by ALPN, or a connection's first bytes are HTTP/2's
// connection preface (h2c with prior knowledge), the connection is handed to
// http2::serveConnection (http2/connection.h) with what was read, and closed after it.
//
// Per request (HTTP/1.1, keep-alive by default, pipelined requests answered in order because
// they are read one after the other from the same buffer):
//   read headers (limits: 431, 413; timeout: 408) -> check the target, Host and framing (400)
//   -> the pipeline (pipeline/admission.h: route, policies; 404, 308, 401, 403, 429)
//   -> pick a target (503 when none is usable) -> take a pooled
//   connection or connect (connect_timeout_ms) -> stream the request (answering
//   `Expect: 100-continue` ourselves) -> read the response headers (read_timeout_ms: 504;
//   refused/reset/garbage: 502) -> stream the response back -> return the connection to the pool
//   when both sides allow it -> access log line and metrics.
//
// Heads are parsed by Beast's parsers and written as bytes from the parsed fields
// (header_rewrite.h): the parsed message is never edited. Bodies stream through a fixed 64 KiB
// piece in both directions, so memory per connection is bounded whatever the body size: a body
// of known length is read straight into the piece, a chunked one through the parser
// (http_read.h), and each piece goes out as soon as it arrived. What is left of a body of known
// length past its first piece (more than 64 KiB) is spliced from socket to socket through a
// per-connection pipe (splice_relay.h) and never enters user space.
//
// Upgrades (WebSocket): a request with Connection: Upgrade and an Upgrade field, without a body,
// goes through the same pipeline and upstream steps, asking the upstream for the upgrade. A 101
// is relayed with the upstream's Connection and Upgrade fields; then the connection is a tunnel:
// bytes both ways (what either side sent past its head first) until one side closes or neither
// sends for the service's idle_timeout. One access log line when it closes.
//
// Retries: a connect failure moves to another target (up to the service's `retries`; nothing was
// sent, so any method may retry). A pooled connection that fails before any response byte is
// dropped and the request, if idempotent and without a body, goes out on the next pooled one or
// a fresh one; a request that cannot be retried is only sent on a pooled connection that passes
// the peer-closed check. An upstream that fails before the response head reached the client
// gets the client a 502 (504 on a timeout); once response bytes reached the client an upstream
// failure can only close the client connection.
//
// THREAD: runs on its worker's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace turnpike::proxy {

class Worker;
namespace tls {
class TlsListener;
}

namespace http1 {

// Serves `socket` until it closes. Spawned by the worker for each accepted connection; `tls`
// is the TLS listener's state for its connections (the handshake comes first, under the header
// timeout), null for the plain listener's.
boost::asio::awaitable<void> serveConnection(Worker& worker, boost::asio::ip::tcp::socket socket,
                                             tls::TlsListener* tls);

}  // namespace http1
}  // namespace turnpike::proxy
