// TlsListener: what the TLS listener's connections start from: the listener's SSL_CTX (the
// protocol policy, the ClientHello callback, session tickets) and the certificate served when no
// other applies.
//
//   auto listener = TlsListener::make({.reject_unknown_sni = false});
//   SSL* ssl = (*listener)->newConnection(snapshot->certificates().get());
//   client.startTls(ssl);  co_await client.handshake(...);
//
// The ClientHello callback picks the connection's certificate from the CertificateTable given to
// newConnection() (CertificateTable::select), else the self-signed certificate made when the
// listener was made (CN "turnpike", a year long, an ECDSA P-256 key that never leaves memory),
// else, with reject_unknown_sni, refuses the handshake with an unrecognized_name alert. It
// switches the connection to that certificate's context together with its client
// verification, which OpenSSL does not carry over by itself.
//
// THREAD: immutable after make() apart from the ticket keys (ticket_keys.h); newConnection()
// from any thread.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <memory>

#include "model/result.h"
#include "proxy/tls/certificate_table.h"
#include "proxy/tls/server_context.h"
#include "proxy/tls/ticket_keys.h"

namespace turnpike::proxy::tls {

struct TlsListenerOptions {
  bool reject_unknown_sni = false;
  std::chrono::seconds ticket_key_rotation{3600};
};

class TlsListener {
 public:
  [[nodiscard]] static model::Result<std::unique_ptr<TlsListener>> make(TlsListenerOptions options);

  // A server-side SSL for one accepted connection; the caller owns it (ssl::stream takes it).
  // `table` (may be null) must outlive the handshake. Null when OpenSSL is out of memory.
  SSL* newConnection(const CertificateTable* table);

  // The self-signed certificate's context.
  const ServerContext& fallback() const { return *fallback_; }
  TicketKeys& ticketKeys() { return tickets_; }

 private:
  TlsListener(TlsListenerOptions options, SslCtxPtr base,
              std::shared_ptr<const ServerContext> fallback);
  // Picks the certificate as the ClientHello arrives: before OpenSSL looks at a session to
  // resume, so that it compares the session with the certificate's session id context.
  static int onClientHello(SSL* ssl, int* alert, void* listener);

  const TlsListenerOptions options_;
  SslCtxPtr base_;
  std::shared_ptr<const ServerContext> fallback_;
  TicketKeys tickets_;
};

}  // namespace turnpike::proxy::tls
