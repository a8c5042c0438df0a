#include "proxy/tls/openssl_util.h"

#include <openssl/err.h>
#include <openssl/pem.h>

namespace turnpike::proxy::tls {
namespace {

int noPassphrase(char*, int, int, void*) { return -1; }

}  // namespace

std::vector<X509Ptr> readCertificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  std::unique_ptr<BIO, OpensslDeleter> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (bio) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr));
    if (!cert) break;
    out.push_back(std::move(cert));
  }
  ERR_clear_error();  // the end of the text reads as an error
  return out;
}

}  // namespace turnpike::proxy::tls
