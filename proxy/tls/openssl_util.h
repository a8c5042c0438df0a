// Small owners for OpenSSL objects, and reading PEM certificates, for the TLS contexts.
//
//   std::vector<X509Ptr> chain = readCertificates(pem);   // empty: none parsed
//
// THREAD: any.
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>
#include <string_view>
#include <vector>

namespace turnpike::proxy::tls {

struct OpensslDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
  void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
};
using X509Ptr = std::unique_ptr<X509, OpensslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, OpensslDeleter>;

// The certificates in `pem`, in order; what follows the last one that parses is ignored.
std::vector<X509Ptr> readCertificates(std::string_view pem);

}  // namespace turnpike::proxy::tls
