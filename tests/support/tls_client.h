// TlsClient: a blocking TLS 1.2/1.3 client for tests (OpenSSL on a loopback socket), with the
// knobs the TLS tests turn: SNI, the versions offered, ALPN, a CA to verify against, a client
// certificate, and a session to resume.
//
//   TlsClientOptions o{.server_name = "api.example.com", .ca_pem = ca.cert_pem};
//   auto c = TlsConnection::open(port, o);
//   ASSERT_TRUE(c) << c.error;
//   EXPECT_EQ(c.connection->peerCommonName(), "api.example.com");
//   Response r = c.connection->request("GET", "/orders", "api.example.com");
//
// Not thread-safe; one connection per thread. Every socket operation is bounded by `timeout`.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/http_client.h"

namespace turnpike::test_support {

struct TlsClientOptions {
  std::string server_name;  // SNI; empty: none sent
  std::string ca_pem;       // verify the server against it; empty: no verification
  std::string cert_pem;     // a client certificate and its key; empty: none
  std::string key_pem;
  int min_version = TLS1_2_VERSION;
  int max_version = TLS1_3_VERSION;
  std::vector<std::string> alpn = {"http/1.1"};  // empty: no ALPN extension
  SSL_SESSION* resume = nullptr;                 // a session from an earlier connection
  std::chrono::milliseconds timeout = std::chrono::seconds(5);
};

struct SessionDeleter {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};
using SessionPtr = std::unique_ptr<SSL_SESSION, SessionDeleter>;

class TlsConnection {
 public:
  struct Opened {
    std::unique_ptr<TlsConnection> connection;  // null when the handshake failed
    std::string error;                          // why (OpenSSL's reason, or the socket's)
    explicit operator bool() const { return connection != nullptr; }
  };
  static Opened open(uint16_t port, const TlsClientOptions& options);
  ~TlsConnection();

  std::string peerCommonName() const;  // the leaf's CN ("" when none)
  std::string version() const;         // "TLSv1.3"
  std::string alpn() const;            // "" when none was agreed
  bool resumed() const;
  // The session to resume later. With TLS 1.3 the ticket arrives after the handshake: call it
  // after a request, whose response read it.
  SessionPtr session() const;

  // One HTTP/1.1 request on this connection (keep-alive); the response read by Content-Length
  // (or to the end of the connection). Status 0 and `error` on failure.
  Response request(std::string_view method, std::string_view target, std::string_view host,
                   const Headers& headers = {}, std::string_view body = "");

 private:
  TlsConnection(int fd, SSL_CTX* ctx, SSL* ssl) : fd_(fd), ctx_(ctx), ssl_(ssl) {}
  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_;
  std::string buffered_;
};

}  // namespace turnpike::test_support
