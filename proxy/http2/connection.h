// The HTTP/2 connection codec: one client connection that speaks HTTP/2, from its first frame to
// its close, on the worker's Asio loop.
//
// The HTTP/1.1 session (http1/session.h) hands a connection over when the TLS handshake chose
// "h2" by ALPN, or when a plain connection opens with HTTP/2's connection preface (h2c with
// prior knowledge), so that HTTP/1.1 and HTTP/2 share both listeners. Frames are ServerCodec's
// (server_codec.h, libnghttp2); this file drives it:
//   - a reader feeds what arrives to the codec, and reads no more until what the codec queued in
//     answer is written (the codec's back-pressure rule);
//   - a writer writes what the codec has to send whenever something woke it;
//   - every request (stream) runs as a coroutine of its own: an Exchange through the same
//     pipeline as HTTP/1.1 (pipeline::admit: routes, policies, redirects), then the upstream over
//     the HTTP/1.1 pool (request body from the stream's DATA, chunked when the client gave no
//     length; the response head as HEADERS, its body as DATA under HTTP/2 flow control), or the
//     aggregate; one access log line with protocol "HTTP/2".
//
// Timeouts: a connection without streams closes after --idle-timeout-ms (and at once when the
// worker drains, with a GOAWAY); a client that does not read for --client-io-timeout-ms is cut;
// each stream has the service's connect and read timeouts, and --client-io-timeout-ms for a
// request body that stops coming.
//
// THREAD: runs on its worker's thread only.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "proxy/byte_stream.h"

namespace turnpike::proxy {

class Worker;

namespace http2 {

// What the listener established about the client before HTTP/2 began.
struct ClientInfo {
  std::string_view client_ip;
  bool tls = false;                     // the TLS listener
  std::string_view client_cert_fields;  // X-Client-Cert-* lines of a verified certificate
};

// Serves the connection until it ends. `received` holds bytes already read from it (h2c: the
// preface and whatever followed). `stream` and `client` must outlive the call.
boost::asio::awaitable<void> serveConnection(Worker& worker, ByteStream& stream,
                                             std::string_view received, const ClientInfo& client);

}  // namespace http2
}  // namespace turnpike::proxy
