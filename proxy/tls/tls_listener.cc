#include "proxy/tls/tls_listener.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <string>

namespace turnpike::proxy::tls {
namespace {

using model::Error;

int tableIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

// The certificate a connection gets when nothing configured applies: self-signed, so a client
// that does not check (or pins it) still gets TLS, and one that checks learns that no
// certificate was configured for the name it asked for.
model::Result<model::Certificate> makeSelfSigned() {
  std::unique_ptr<EVP_PKEY, OpensslDeleter> key(EVP_EC_gen("P-256"));
  std::unique_ptr<X509, OpensslDeleter> cert(X509_new());
  if (!key || !cert) return Error::internal("cannot make the self-signed certificate");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Error::internal("no random serial");
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_set =
      bn != nullptr && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>("turnpike");
  if (!serial_set || X509_set_version(cert.get(), 2) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1 ||
      X509_set_issuer_name(cert.get(), name) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), 365L * 24 * 3600) == nullptr ||
      X509_set_pubkey(cert.get(), key.get()) != 1 ||
      X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    ERR_clear_error();
    return Error::internal("cannot make the self-signed certificate");
  }
  std::unique_ptr<BIO, OpensslDeleter> cert_bio(BIO_new(BIO_s_mem()));
  std::unique_ptr<BIO, OpensslDeleter> key_bio(BIO_new(BIO_s_mem()));
  if (!cert_bio || !key_bio || PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1 ||
      PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) !=
          1) {
    ERR_clear_error();
    return Error::internal("cannot encode the self-signed certificate");
  }
  model::Certificate c;
  c.name = "self-signed";
  c.cert = bioText(cert_bio.get());
  c.key_pem = bioText(key_bio.get());
  if (auto inspected = model::inspectCertificate(c.cert, c); !inspected) return inspected.error();
  return c;
}

// The host name of the ClientHello's server_name extension (RFC 6066, section 3); "" when
// there is none or it is malformed (OpenSSL refuses a malformed one right after).
std::string_view serverName(SSL* ssl) {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &data, &size) != 1 || size < 2) {
    return {};
  }
  const std::size_t list = static_cast<std::size_t>(data[0]) << 8 | data[1];
  if (list + 2 != size || list < 3) return {};
  std::size_t at = 2;
  while (at + 3 <= size) {
    const unsigned type = data[at];
    const std::size_t length = static_cast<std::size_t>(data[at + 1]) << 8 | data[at + 2];
    at += 3;
    if (at + length > size) return {};
    if (type == TLSEXT_NAMETYPE_host_name) {
      return std::string_view(reinterpret_cast<const char*>(data + at), length);
    }
    at += length;
  }
  return {};
}

}  // namespace

model::Result<std::unique_ptr<TlsListener>> TlsListener::make(TlsListenerOptions options) {
  SslCtxPtr base(SSL_CTX_new(TLS_server_method()));
  if (!base || !applyServerPolicy(base.get())) {
    ERR_clear_error();
    return Error::internal("OpenSSL refused the TLS listener's policy");
  }
  // Tickets only: no per-context session cache to grow and lock (tickets resume TLS 1.2 and
  // 1.3 alike, and work across workers).
  SSL_CTX_set_session_cache_mode(base.get(), SSL_SESS_CACHE_OFF);
  SSL_CTX_set_timeout(base.get(), static_cast<long>(options.ticket_key_rotation.count()));
  const unsigned char session_context[] = "turnpike";
  SSL_CTX_set_session_id_context(base.get(), session_context, sizeof session_context - 1);
  if (!TicketKeys::install(base.get())) {
    return Error::internal("OpenSSL refused the session ticket callback");
  }
  auto self_signed = makeSelfSigned();
  if (!self_signed) return self_signed.error();
  auto fallback = ServerContext::make(*self_signed);
  if (!fallback) return fallback.error();
  std::unique_ptr<TlsListener> listener(
      new TlsListener(options, std::move(base), std::move(*fallback)));
  SSL_CTX_set_client_hello_cb(listener->base_.get(), onClientHello, listener.get());
  return listener;
}

TlsListener::TlsListener(TlsListenerOptions options, SslCtxPtr base,
                         std::shared_ptr<const ServerContext> fallback)
    : options_(options),
      base_(std::move(base)),
      fallback_(std::move(fallback)),
      tickets_(options.ticket_key_rotation) {}

SSL* TlsListener::newConnection(const CertificateTable* table) {
  SSL* ssl = SSL_new(base_.get());
  if (ssl == nullptr) return nullptr;
  if (SSL_set_ex_data(ssl, tableIndex(), const_cast<CertificateTable*>(table)) != 1 ||
      !tickets_.attach(ssl)) {
    SSL_free(ssl);
    return nullptr;
  }
  return ssl;
}

int TlsListener::onClientHello(SSL* ssl, int* alert, void* arg) {
  const auto* listener = static_cast<const TlsListener*>(arg);
  const auto* table = static_cast<const CertificateTable*>(SSL_get_ex_data(ssl, tableIndex()));
  const ServerContext* picked = table != nullptr ? table->select(serverName(ssl)) : nullptr;
  if (picked == nullptr) {
    if (listener->options_.reject_unknown_sni) {
      *alert = SSL_AD_UNRECOGNIZED_NAME;
      return SSL_CLIENT_HELLO_ERROR;
    }
    picked = listener->fallback_.get();
  }
  SSL_CTX* ctx = picked->native();
  if (SSL_set_SSL_CTX(ssl, ctx) == nullptr) {
    *alert = SSL_AD_INTERNAL_ERROR;
    return SSL_CLIENT_HELLO_ERROR;
  }
  // SSL_set_SSL_CTX moves the certificate, key, chain, verify store and session id context,
  // not the verify mode.
  SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
  SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
  return SSL_CLIENT_HELLO_SUCCESS;
}

}  // namespace turnpike::proxy::tls
