// handshakeInMemory: a whole TLS handshake between an OpenSSL client and a server-side SSL over
// an in-memory BIO pair (no sockets), then one byte each way, for tests of TLS server setups.
//
//   std::unique_ptr<SSL, ...> server(listener.newConnection(table));
//   HandshakeOutcome o = handshakeInMemory(server.get(), {.sni = "api.example.com"});
//   EXPECT_EQ(o.server_cn, "api.example.com");
//
// The byte each way is what makes TLS 1.3 tickets reach the client, and what shows a client
// certificate that the server refuses after its side of the handshake. The client marks its
// session as properly shut down, so that `session` can be resumed.
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

#include "tests/support/test_certificates.h"

namespace turnpike::test_support {

struct SessionFree {
  void operator()(SSL_SESSION* s) const { SSL_SESSION_free(s); }
};

struct HandshakeClient {
  std::string sni;  // empty: none sent
  int max_version = TLS1_3_VERSION;
  int min_version = TLS1_2_VERSION;
  std::string tls12_ciphers;                          // empty: OpenSSL's default
  std::string alpn = std::string("\x08http/1.1", 9);  // ALPN wire form; empty: none
  const TestCertificate* client_cert = nullptr;       // presented when asked
  SSL_SESSION* resume = nullptr;
};

struct HandshakeOutcome {
  bool ok = false;
  std::string server_cn;  // the server certificate's CN
  std::string cipher;
  std::string alpn;
  bool resumed = false;
  bool peer_verified = false;  // the server holds a client certificate it verified
  std::unique_ptr<SSL_SESSION, SessionFree> session;
};

// Runs the handshake with `server` (a server-side SSL, left to the caller to free).
HandshakeOutcome handshakeInMemory(SSL* server, const HandshakeClient& client);

}  // namespace turnpike::test_support
