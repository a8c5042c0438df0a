#include "tests/support/tls_handshake.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace turnpike::test_support {
namespace {

struct Free {
  void operator()(SSL* s) const { SSL_free(s); }
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

}  // namespace

HandshakeOutcome handshakeInMemory(SSL* server_ssl, const HandshakeClient& spec) {
  HandshakeOutcome out;
  std::unique_ptr<SSL_CTX, Free> ctx(SSL_CTX_new(TLS_client_method()));
  SSL_CTX_set_min_proto_version(ctx.get(), spec.min_version);
  SSL_CTX_set_max_proto_version(ctx.get(), spec.max_version);
  if (spec.min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx.get(), 0);
  if (!spec.tls12_ciphers.empty()) SSL_CTX_set_cipher_list(ctx.get(), spec.tls12_ciphers.c_str());
  if (spec.client_cert != nullptr) {
    BIO* cb = BIO_new_mem_buf(spec.client_cert->cert_pem.data(), -1);
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    BIO* kb = BIO_new_mem_buf(spec.client_cert->key_pem.data(), -1);
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    SSL_CTX_use_certificate(ctx.get(), cert);
    SSL_CTX_use_PrivateKey(ctx.get(), key);
    X509_free(cert);
    EVP_PKEY_free(key);
    BIO_free(cb);
    BIO_free(kb);
  }
  std::unique_ptr<SSL, Free> client(SSL_new(ctx.get()));
  BIO* client_bio = nullptr;
  BIO* server_bio = nullptr;
  BIO_new_bio_pair(&client_bio, 0, &server_bio, 0);
  SSL_set_bio(client.get(), client_bio, client_bio);
  SSL_set_bio(server_ssl, server_bio, server_bio);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server_ssl);
  if (!spec.sni.empty()) SSL_set_tlsext_host_name(client.get(), spec.sni.c_str());
  if (!spec.alpn.empty()) {
    SSL_set_alpn_protos(client.get(), reinterpret_cast<const unsigned char*>(spec.alpn.data()),
                        static_cast<unsigned int>(spec.alpn.size()));
  }
  if (spec.resume != nullptr) SSL_set_session(client.get(), spec.resume);

  bool client_done = false, server_done = false;
  for (int round = 0; round < 20 && !(client_done && server_done); ++round) {
    if (!client_done) {
      const int r = SSL_do_handshake(client.get());
      if (r == 1) {
        client_done = true;
      } else if (SSL_get_error(client.get(), r) != SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        return out;
      }
    }
    if (!server_done) {
      const int r = SSL_do_handshake(server_ssl);
      if (r == 1) {
        server_done = true;
      } else if (SSL_get_error(server_ssl, r) != SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        // Let the client read the alert.
        SSL_do_handshake(client.get());
        ERR_clear_error();
        return out;
      }
    }
  }
  if (!client_done || !server_done) return out;
  // Application data both ways: the client takes in the tickets, and in TLS 1.3 a client
  // certificate that the server refuses shows here.
  char byte = 'x';
  if (SSL_write(client.get(), &byte, 1) != 1 || SSL_read(server_ssl, &byte, 1) != 1 ||
      SSL_write(server_ssl, &byte, 1) != 1 || SSL_read(client.get(), &byte, 1) != 1) {
    ERR_clear_error();
    return out;
  }
  out.ok = true;
  if (X509* peer = SSL_get0_peer_certificate(client.get())) {
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    out.server_cn = cn;
  }
  out.cipher = SSL_get_cipher_name(client.get());
  const unsigned char* alpn = nullptr;
  unsigned int alpn_size = 0;
  SSL_get0_alpn_selected(client.get(), &alpn, &alpn_size);
  out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_size);
  out.resumed = SSL_session_reused(client.get()) == 1;
  out.peer_verified = SSL_get0_peer_certificate(server_ssl) != nullptr &&
                      SSL_get_verify_result(server_ssl) == X509_V_OK;
  out.session.reset(SSL_get1_session(client.get()));
  // A connection freed without a shutdown marks its session unresumable, as a cut one would.
  SSL_set_shutdown(client.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  return out;
}

}  // namespace turnpike::test_support
