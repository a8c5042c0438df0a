// TlsFront: a TLS server on 127.0.0.1 in front of a plain one (usually a TestUpstream), for
// tests of TLS to upstreams: it completes real handshakes with the certificate it is given,
// optionally asks for and verifies a client certificate, then relays bytes both ways to
// 127.0.0.1:`backend_port` until either side closes. It counts handshakes and remembers the
// subject of the last verified client certificate.
//
//   TestUpstream up("secure");
//   up.start();
//   TlsFront front(up.port(), {.cert_pem = leaf.cert_pem, .key_pem = leaf.key_pem});
//   front.start();
//   ... a service target "https://127.0.0.1:" + front.port() ...
//   EXPECT_EQ(front.handshakes(), 1);
//
// Thread safety: counters from any thread; start() and stop() from the owning thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace turnpike::test {

struct TlsFrontOptions {
  std::string cert_pem;  // the leaf, then its chain
  std::string key_pem;
  std::string client_ca_pem;  // when set, a client certificate signed by it is required
};

class TlsFront {
 public:
  TlsFront(uint16_t backend_port, TlsFrontOptions options);
  ~TlsFront();
  TlsFront(const TlsFront&) = delete;
  TlsFront& operator=(const TlsFront&) = delete;

  // Binds 127.0.0.1 on a free port and serves on its own thread. Throws std::runtime_error when
  // the certificate or key does not load.
  void start();
  // Closes the listener and every connection; joins the thread. Idempotent.
  void stop();

  uint16_t port() const;
  uint64_t handshakes() const;            // completed
  uint64_t failedHandshakes() const;      // refused or broken
  std::string lastClientSubject() const;  // RFC 2253 form; "" when none was presented

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnpike::test
