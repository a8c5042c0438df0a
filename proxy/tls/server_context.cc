#include "proxy/tls/server_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <optional>
#include <string_view>
#include <utility>

#include "proxy/tls/openssl_util.h"

namespace turnpike::proxy::tls {
namespace {

using model::Error;

// TLS 1.2 suites: ECDHE only (forward secrecy), AEAD only (no CBC), ECDSA before RSA so that a
// server with both keys would prefer the cheaper one. TLS 1.3 keeps OpenSSL's three suites.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* kTls13Suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr const char* kGroups = "X25519:P-256";

// What Turnpike speaks, in ALPN wire form (length-prefixed), most preferred first.
constexpr unsigned char kAlpnProtocols[] = {2, 'h', '2', 8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int selectAlpn(SSL*, const unsigned char** out, unsigned char* out_length,
               const unsigned char* offered, unsigned int offered_length, void*) {
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_length, kAlpnProtocols, sizeof kAlpnProtocols, offered,
                            offered_length) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;  // no_application_protocol (RFC 7301, section 3.2)
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

Error fail(const model::Certificate& c, std::string_view what) {
  ERR_clear_error();
  return Error::internal("certificate '" + c.name + "': " + std::string(what));
}

}  // namespace

bool applyServerPolicy(SSL_CTX* ctx) {
  SSL_CTX_set_options(
      ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_alpn_select_cb(ctx, selectAlpn, nullptr);
  return SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) == 1 &&
         SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) == 1 &&
         SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) == 1 &&
         SSL_CTX_set_ciphersuites(ctx, kTls13Suites) == 1 &&
         SSL_CTX_set1_groups_list(ctx, kGroups) == 1;
}

KeyDecoder::KeyDecoder()
    : ctx_(OSSL_DECODER_CTX_new_for_pkey(&key_, "PEM", nullptr, nullptr, EVP_PKEY_KEYPAIR, nullptr,
                                         nullptr)) {}

KeyDecoder::~KeyDecoder() {
  OSSL_DECODER_CTX_free(ctx_);
  EVP_PKEY_free(key_);
}

std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> KeyDecoder::decode(std::string_view pem) {
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> out(nullptr, EVP_PKEY_free);
  if (ctx_ == nullptr) return out;
  EVP_PKEY_free(key_);
  key_ = nullptr;
  const auto* data = reinterpret_cast<const unsigned char*>(pem.data());
  std::size_t size = pem.size();
  if (OSSL_DECODER_from_data(ctx_, &data, &size) == 1) {
    out.reset(key_);
    key_ = nullptr;
  }
  ERR_clear_error();
  return out;
}

std::string loadChainAndKey(SSL_CTX* ctx, std::string_view cert_pem, std::string_view key_pem,
                            KeyDecoder* keys) {
  std::vector<model::X509Ptr> chain = model::readCertificates(cert_pem);
  if (chain.empty()) return "the certificate does not parse";
  if (SSL_CTX_use_certificate(ctx, chain.front().get()) != 1) {
    return "OpenSSL refused the certificate";
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (SSL_CTX_add1_chain_cert(ctx, chain[i].get()) != 1) {
      return "OpenSSL refused a chain certificate";
    }
  }
  std::optional<KeyDecoder> own;
  if (keys == nullptr) keys = &own.emplace();
  auto key = keys->decode(key_pem);
  if (!key || SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    return "the private key does not load or does not match the certificate";
  }
  return "";
}

model::Result<std::shared_ptr<const ServerContext>> ServerContext::make(const model::Certificate& c,
                                                                        KeyDecoder* keys) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  if (!ctx || !applyServerPolicy(ctx.get())) return fail(c, "OpenSSL refused the TLS policy");

  if (std::string failed = loadChainAndKey(ctx.get(), c.cert, c.key_pem, keys); !failed.empty()) {
    return fail(c, failed);
  }

  // Sessions resume only under the certificate (and client verification) they began with: a
  // session made where no client certificate was asked for must not resume where one is.
  const std::string session_context =
      c.fingerprint_sha256.substr(0, 16) + std::string(model::toString(c.client_verify));
  SSL_CTX_set_session_id_context(ctx.get(),
                                 reinterpret_cast<const unsigned char*>(session_context.data()),
                                 static_cast<unsigned int>(session_context.size()));

  if (c.client_verify != model::ClientVerify::kOff) {
    std::vector<model::X509Ptr> authorities = model::readCertificates(c.client_ca.value_or(""));
    if (authorities.empty()) return fail(c, "client_ca holds no certificate");
    std::unique_ptr<X509_STORE, OpensslDeleter> store(X509_STORE_new());
    if (!store) return fail(c, "out of memory");
    for (const model::X509Ptr& authority : authorities) {
      if (X509_STORE_add_cert(store.get(), authority.get()) != 1 ||
          SSL_CTX_add_client_CA(ctx.get(), authority.get()) != 1) {
        return fail(c, "OpenSSL refused a client_ca certificate");
      }
    }
    // set1: the context takes its own reference. It travels with the certificate when the SNI
    // callback switches a connection to this context (SSL_set_SSL_CTX copies it).
    if (SSL_CTX_set1_verify_cert_store(ctx.get(), store.get()) != 1) {
      return fail(c, "OpenSSL refused the client_ca store");
    }
    int mode = SSL_VERIFY_PEER;
    if (c.client_verify == model::ClientVerify::kRequired) {
      mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    SSL_CTX_set_verify(ctx.get(), mode, nullptr);
    SSL_CTX_set_verify_depth(ctx.get(), 8);
  }
  return std::shared_ptr<const ServerContext>(
      new ServerContext(std::move(ctx), c.name, c.client_verify));
}

}  // namespace turnpike::proxy::tls
