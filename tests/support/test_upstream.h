// TestUpstream: a real HTTP/1.1 server on 127.0.0.1 for the proxy's integration tests and the
// bench, on Boost.Asio + Beast (coroutines), running its own io_context on its own thread(s).
//
// By default every request is answered 200 with a JSON echo of what arrived:
//   {"upstream": name, "method", "target", "path", "query",
//    "headers": {lower-case name: value, or an array of values when repeated},
//    "body_bytes": N, "body_sha256": hex,
//    "body": text (only when <= 64 KiB and valid UTF-8),
//    "connection_requests": k}   // 1 for the first request on a connection, then 2, ...
// Request bodies (Content-Length or chunked, any size) are streamed through a 64 KiB buffer,
// counted and hashed; only a body of at most 64 KiB is kept. Keep-alive by default;
// `Connection: close` and HTTP/1.0 are honoured; pipelined requests are answered in order;
// `Expect: 100-continue` gets a 100 Continue. Every response carries `X-Upstream: <name>`.
//
// Query parameters of the request change the answer (all optional, combinable), so a test
// drives the upstream through the proxy without touching it:
//   status=NNN        response status (1xx, 204, 304: no body)
//   delay_ms=N        wait N ms before sending the headers
//   size=N            a body of exactly N bytes of "0123456789abcdef..." (streamed in 64 KiB
//                     pieces, application/octet-stream) instead of the echo
//   chunked=1         Transfer-Encoding: chunked instead of Content-Length
//   trickle_ms=N      send the body one byte every N ms
//   close=1           answer with `Connection: close` and close afterwards
//   reset=headers     RST (SO_LINGER 0) instead of any answer
//   reset=body        headers with the full Content-Length, half of the body, then (once the
//                     peer acknowledged it, + 50 ms for it to read it) RST
//   garbage=1         "HELLO GARBAGE\r\n\r\n" instead of a response, then close
//   bad_chunk=1       chunked headers, then an invalid chunk-size line, then close
//   hang=1            never answer; the socket stays open until the peer closes or stop()
//   header.NAME=V     add response header NAME: V (repeatable; replaces a default header of
//                     that name, e.g. Content-Type; values are percent-decoded)
// GET /healthz is answered apart (query ignored): 200 {"ok":true} while healthy, else 503
// {"ok":false}; it counts in healthChecks(), not in requestsServed().
//
//   TestUpstream up("users");
//   up.start();
//   ... point a service target at up.url() ...
//   client.get("/users/1?delay_ms=50&header.X-A=1");
//   EXPECT_EQ(up.connectionsAccepted(), 1);
//
// Thread safety: counters and setHealthy() may be used from any thread. start(), stop() and
// closeIdleConnections() are for the owning (test) thread, never from a handler of this server.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace turnpike::test {

class TestUpstream {
 public:
  // `threads`: how many threads run the io_context (1 is enough for tests; connections are
  // served concurrently by coroutines either way).
  explicit TestUpstream(std::string name = "upstream", int threads = 1);
  // Stops the server (see stop()).
  ~TestUpstream();
  TestUpstream(const TestUpstream&) = delete;
  TestUpstream& operator=(const TestUpstream&) = delete;

  // Binds 127.0.0.1:`port` (0: any free port; SO_REUSEADDR, never SO_REUSEPORT) and starts
  // serving. After stop(), start(port()) brings the same upstream back on the same port.
  // Throws std::system_error when the port cannot be bound; does nothing when already running.
  void start(uint16_t port = 0);
  // Closes the listener and every connection (in-flight requests get no answer) and joins the
  // threads. Counters keep their values. Idempotent.
  void stop();
  bool running() const;

  // The bound port (0 before the first start()); "http://127.0.0.1:PORT".
  uint16_t port() const;
  std::string url() const;
  const std::string& name() const;

  // TCP connections accepted since construction.
  uint64_t connectionsAccepted() const;
  // Requests read completely (headers and body) and then acted on, whatever the action
  // (answer, reset, garbage, hang); /healthz requests are not counted here.
  uint64_t requestsServed() const;
  // Connections currently open on the server side.
  uint64_t openConnections() const;
  // Requests to /healthz answered so far.
  uint64_t healthChecks() const;

  // /healthz answers 200 when healthy (the default), 503 otherwise.
  void setHealthy(bool healthy);
  bool healthy() const;

  // Closes (FIN) every connection that waits for its next request with nothing of it received,
  // like an upstream's keep-alive timeout; one whose keep-alive answer is still being written
  // (the client may already hold it) is closed as soon as the write ends. Returns once they are
  // closed, with how many; connections in the middle of a request are left alone.
  int closeIdleConnections();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnpike::test
