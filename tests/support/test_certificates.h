// Certificates made by the tests, with OpenSSL: a CA, leaf certificates it signs, self-signed
// ones, with the key types and validity a test asks for.
//
//   TestCertificate ca = makeCertificate({.common_name = "Test CA", .is_ca = true});
//   TestCertificate leaf = makeCertificate({.common_name = "api.example.com",
//                                           .dns_names = {"api.example.com"}, .issuer = &ca});
//   post("/certificates", {{"cert", leaf.cert_pem}, {"key", leaf.key_pem}, ...});
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace turnpike::test_support {

enum class TestKeyType { kEcP256, kEcP384, kRsa2048, kRsa1024, kEd25519 };

struct TestCertificate {
  std::string cert_pem;  // this certificate only
  std::string key_pem;   // PKCS#8, unencrypted
};

struct CertificateSpec {
  std::string common_name = "localhost";
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  // subjectAltName IP entries ("127.0.0.1")
  TestKeyType key_type = TestKeyType::kEcP256;
  int64_t valid_from_s = -3600;        // relative to now
  int64_t valid_until_s = 30 * 86400;  // relative to now (negative: already expired)
  bool is_ca = false;
  const TestCertificate* issuer = nullptr;  // nullptr: self-signed
};

// Aborts the test process on an OpenSSL failure (a broken fixture, not a test result).
TestCertificate makeCertificate(const CertificateSpec& spec);

}  // namespace turnpike::test_support
