#include "tests/support/test_certificates.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace turnpike::test_support {
namespace {

struct Deleter {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

void check(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "test certificates: %s failed\n", what);
  std::abort();
}

std::unique_ptr<EVP_PKEY, Deleter> generateKey(TestKeyType type) {
  EVP_PKEY* key = nullptr;
  switch (type) {
    case TestKeyType::kEcP256:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
      break;
    case TestKeyType::kEcP384:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-384");
      break;
    case TestKeyType::kRsa2048:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(2048));
      break;
    case TestKeyType::kRsa1024:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(1024));
      break;
    case TestKeyType::kEd25519:
      key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
      break;
  }
  check(key != nullptr, "key generation");
  return std::unique_ptr<EVP_PKEY, Deleter>(key);
}

std::string bioText(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(size));
}

void addExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX context;
  X509V3_set_ctx(&context, issuer, cert, nullptr, nullptr, 0);
  std::unique_ptr<X509_EXTENSION, Deleter> extension(
      X509V3_EXT_conf_nid(nullptr, &context, nid, value.c_str()));
  check(extension != nullptr && X509_add_ext(cert, extension.get(), -1) == 1, "an extension");
}

}  // namespace

TestCertificate makeCertificate(const CertificateSpec& spec) {
  auto key = generateKey(spec.key_type);
  std::unique_ptr<X509, Deleter> cert(X509_new());
  check(cert != nullptr && X509_set_version(cert.get(), X509_VERSION_3) == 1, "X509_new");
  unsigned char serial[16];
  check(RAND_bytes(serial, sizeof serial) == 1, "RAND_bytes");
  serial[0] &= 0x7f;  // a positive serial number
  BIGNUM* number = BN_bin2bn(serial, sizeof serial, nullptr);
  check(number != nullptr && BN_to_ASN1_INTEGER(number, X509_get_serialNumber(cert.get())),
        "the serial number");
  BN_free(number);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), static_cast<long>(spec.valid_from_s));
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), static_cast<long>(spec.valid_until_s));
  X509_NAME* name = X509_get_subject_name(cert.get());
  check(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                                   -1, -1, 0) == 1,
        "the subject");
  check(X509_set_pubkey(cert.get(), key.get()) == 1, "the public key");

  std::unique_ptr<X509, Deleter> issuer_cert;
  std::unique_ptr<EVP_PKEY, Deleter> issuer_key;
  if (spec.issuer != nullptr) {
    std::unique_ptr<BIO, Deleter> cert_bio(BIO_new_mem_buf(spec.issuer->cert_pem.data(), -1));
    std::unique_ptr<BIO, Deleter> key_bio(BIO_new_mem_buf(spec.issuer->key_pem.data(), -1));
    issuer_cert.reset(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
    issuer_key.reset(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    check(issuer_cert != nullptr && issuer_key != nullptr, "reading the issuer");
    check(X509_set_issuer_name(cert.get(), X509_get_subject_name(issuer_cert.get())) == 1,
          "the issuer name");
  } else {
    check(X509_set_issuer_name(cert.get(), name) == 1, "the issuer name");
  }
  X509* signer_cert = issuer_cert ? issuer_cert.get() : cert.get();
  EVP_PKEY* signer_key = issuer_key ? issuer_key.get() : key.get();

  addExtension(cert.get(), signer_cert, NID_basic_constraints,
               spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  addExtension(cert.get(), signer_cert, NID_key_usage,
               spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  addExtension(cert.get(), signer_cert, NID_subject_key_identifier, "hash");
  if (!spec.is_ca)
    addExtension(cert.get(), signer_cert, NID_ext_key_usage, "serverAuth,clientAuth");
  std::string names;
  for (const std::string& dns : spec.dns_names) {
    if (!names.empty()) names += ",";
    names += "DNS:" + dns;
  }
  for (const std::string& ip : spec.ip_addresses) {
    if (!names.empty()) names += ",";
    names += "IP:" + ip;
  }
  if (!names.empty()) addExtension(cert.get(), signer_cert, NID_subject_alt_name, names);
  // Ed25519 signs without a separate digest.
  const EVP_MD* digest =
      EVP_PKEY_get_base_id(signer_key) == EVP_PKEY_ED25519 ? nullptr : EVP_sha256();
  check(X509_sign(cert.get(), signer_key, digest) > 0, "signing");

  TestCertificate out;
  std::unique_ptr<BIO, Deleter> cert_out(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_X509(cert_out.get(), cert.get()) == 1, "writing the certificate");
  out.cert_pem = bioText(cert_out.get());
  std::unique_ptr<BIO, Deleter> key_out(BIO_new(BIO_s_mem()));
  check(PEM_write_bio_PrivateKey(key_out.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) ==
            1,
        "writing the key");
  out.key_pem = bioText(key_out.get());
  return out;
}

}  // namespace turnpike::test_support
