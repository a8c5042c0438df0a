// Fuzzes what the TLS listener does with the first bytes a client sends: OpenSSL's ClientHello
// parsing and, inside it, the listener's own ClientHello callback (the server_name extension
// read by hand, the certificate picked from the table, the context switched, client
// verification carried over), and the session ticket callback for a ticket the client offers.
//
// The input is the client's first flight, fed to a server-side SSL over a memory BIO (seeds:
// ClientHellos captured from openssl s_client, TLS 1.3, TLS 1.2 with ALPN, and without SNI).
// The first byte, when the input is long enough, chooses whether unknown names are refused.
// Checked: no crash, no leak, no sanitizer report; the handshake either waits for more, fails
// cleanly, or moves on.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "model/certificate.h"
#include "proxy/tls/certificate_table.h"
#include "proxy/tls/tls_listener.h"
#include "tests/support/test_certificates.h"

namespace {

using turnpike::proxy::tls::CertificateTable;
using turnpike::proxy::tls::ContextCache;
using turnpike::proxy::tls::TlsListener;

struct Setup {
  std::unique_ptr<TlsListener> lenient, strict;
  ContextCache cache;
  std::shared_ptr<const CertificateTable> table;
};

turnpike::model::Certificate certificateFor(const std::string& name,
                                            const turnpike::test_support::TestCertificate& pair,
                                            std::vector<std::string> snis) {
  turnpike::model::Certificate c;
  c.id = name;
  c.name = name;
  c.cert = pair.cert_pem;
  c.key_pem = pair.key_pem;
  c.snis = std::move(snis);
  if (!turnpike::model::inspectCertificate(c.cert, c).ok()) std::abort();
  return c;
}

Setup& setup() {
  static Setup* s = [] {
    auto* made = new Setup;
    auto lenient = TlsListener::make({});
    auto strict = TlsListener::make({.reject_unknown_sni = true});
    if (!lenient || !strict) std::abort();
    made->lenient = std::move(*lenient);
    made->strict = std::move(*strict);
    using turnpike::test_support::makeCertificate;
    auto ca = makeCertificate({.common_name = "Fuzz CA", .is_ca = true});
    auto api =
        certificateFor("api", makeCertificate({.common_name = "api.example.com", .issuer = &ca}),
                       {"api.example.com"});
    auto wild = certificateFor("wild", makeCertificate({.common_name = "*.example.org"}),
                               {"*.example.org"});
    wild.client_verify = turnpike::model::ClientVerify::kOptional;
    wild.client_ca = ca.cert_pem;
    auto table = made->cache.build({api, wild});
    if (!table) std::abort();
    made->table = std::move(*table);
    return made;
  }();
  return *s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Setup& s = setup();
  TlsListener& listener = (size > 1 && data[0] == 0xff) ? *s.strict : *s.lenient;
  SSL* ssl = listener.newConnection(s.table.get());
  if (ssl == nullptr) return 0;
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());
  BIO_write(in, data, static_cast<int>(size));
  BIO_set_mem_eof_return(in, -1);  // no more input: "want read", as a socket that waits
  SSL_set_bio(ssl, in, out);
  SSL_set_accept_state(ssl);
  for (int step = 0; step < 4; ++step) {
    const int r = SSL_do_handshake(ssl);
    if (r == 1) break;
    const int error = SSL_get_error(ssl, r);
    if (error != SSL_ERROR_WANT_READ && error != SSL_ERROR_WANT_WRITE) break;
  }
  ERR_clear_error();
  SSL_free(ssl);  // frees both BIOs
  return 0;
}
