// ServerContext: one certificate ready to serve, as an OpenSSL SSL_CTX with the listener's
// protocol policy, its chain and key, its ALPN callback and, when asked, client verification.
//
//   auto made = ServerContext::make(certificate);   // certificate.key_pem holds the plain key
//   if (!made) log(made.error().message);           // names the certificate
//   SSL_set_SSL_CTX(ssl, (*made)->native());        // what the ClientHello callback does
//
// The policy (applyServerPolicy) is the same on every context of the listener, the one the
// connection starts on and the per-certificate ones it switches to: TLS 1.2 and 1.3 only, ECDHE
// key exchange with AEAD ciphers in TLS 1.2 (no RSA key exchange, no CBC), the server's cipher
// order, groups X25519 and P-256, no renegotiation, no compression. ALPN: the callback on each
// context picks h2 when the client offers it, else http/1.1 (Turnpike's order, not the
// client's); a client that offers ALPN without either is refused with no_application_protocol.
//
// THREAD: immutable after make(); SSL objects may be made from it on any thread (OpenSSL locks
// its own reference counts and session cache).
#pragma once

#include <openssl/decoder.h>
#include <openssl/ssl.h>

#include <memory>
#include <string>
#include <string_view>

#include "model/certificate.h"
#include "model/result.h"
#include "proxy/tls/openssl_util.h"

namespace turnpike::proxy::tls {

// Reads PEM private keys, many in a row. OpenSSL 3 finds its decoders anew for every
// PEM_read_bio_PrivateKey, which is most of what a key costs (about 400 us of 440 for a P-256
// key on the development machine); one decoder context kept for a whole build reads a key in
// about 40 us. THREAD: one thread at a time.
class KeyDecoder {
 public:
  KeyDecoder();
  ~KeyDecoder();
  KeyDecoder(const KeyDecoder&) = delete;
  KeyDecoder& operator=(const KeyDecoder&) = delete;

  // The key in `pem` (PKCS#8 or traditional, unencrypted); null when it does not read.
  std::unique_ptr<EVP_PKEY, void (*)(EVP_PKEY*)> decode(std::string_view pem);

 private:
  EVP_PKEY* key_ = nullptr;  // where the decoder context puts what it reads
  OSSL_DECODER_CTX* ctx_ = nullptr;
};

// Loads `cert_pem` (the leaf, then its chain) and `key_pem` into `ctx`, checking that they match.
// "" when they loaded, else what went wrong ("the certificate does not parse", ...). `keys`
// reads the key (a one-off decoder when null).
std::string loadChainAndKey(SSL_CTX* ctx, std::string_view cert_pem, std::string_view key_pem,
                            KeyDecoder* keys);

// The listener's protocol policy on `ctx`, and the ALPN callback. false when OpenSSL refused a
// setting (the error queue says which).
[[nodiscard]] bool applyServerPolicy(SSL_CTX* ctx);

class ServerContext {
 public:
  // `certificate` as the store keeps it, with key_pem filled in (unsealed). Errors name the
  // certificate; they mean the stored certificate no longer loads (the admin API checked it).
  // `keys` reads the key (a one-off decoder when null).
  [[nodiscard]] static model::Result<std::shared_ptr<const ServerContext>> make(
      const model::Certificate& certificate, KeyDecoder* keys = nullptr);

  SSL_CTX* native() const { return ctx_.get(); }
  const std::string& name() const { return name_; }
  model::ClientVerify clientVerify() const { return client_verify_; }

 private:
  ServerContext(SslCtxPtr ctx, std::string name, model::ClientVerify verify)
      : ctx_(std::move(ctx)), name_(std::move(name)), client_verify_(verify) {}

  SslCtxPtr ctx_;
  std::string name_;
  model::ClientVerify client_verify_;
};

}  // namespace turnpike::proxy::tls
