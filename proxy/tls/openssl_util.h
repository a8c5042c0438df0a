// Small owners for OpenSSL objects, for the TLS contexts. PEM certificates are read with the
// model's reader (model::readCertificates), as the admin API checked them.
//
//   SslCtxPtr ctx(SSL_CTX_new(TLS_server_method()));
//
// THREAD: any.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

namespace turnpike::proxy::tls {

struct OpensslDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpensslDeleter>;

}  // namespace turnpike::proxy::tls
