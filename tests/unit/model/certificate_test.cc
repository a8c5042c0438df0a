#include "model/certificate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <string>

#include "model/config.h"
#include "model/encoding.h"
#include "tests/support/test_certificates.h"
#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using test_support::CertificateSpec;
using test_support::makeCertificate;
using test_support::TestCertificate;
using test_support::TestKeyType;
using testing::hasFieldError;
using ::testing::HasSubstr;

// One CA and its leaf, made once for the suite (RSA key generation takes a while).
class CertificateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCertificate(makeCertificate({.common_name = "Test CA", .is_ca = true}));
    leaf_ = new TestCertificate(makeCertificate(
        {.common_name = "api.example.com", .dns_names = {"api.example.com"}, .issuer = ca_}));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete leaf_;
  }

  static json body() {
    return {{"name", "example-com"},
            {"cert", leaf_->cert_pem + ca_->cert_pem},
            {"key", leaf_->key_pem},
            {"snis", {"API.example.com", "*.example.org"}}};
  }

  static TestCertificate* ca_;
  static TestCertificate* leaf_;
};
TestCertificate* CertificateTest::ca_ = nullptr;
TestCertificate* CertificateTest::leaf_ = nullptr;

TEST_F(CertificateTest, ParsesTheChainAndFillsTheReadOnlyFieldsFromTheLeaf) {
  auto r = parseCertificate(body());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->subject, "CN=api.example.com");
  EXPECT_EQ(r->issuer, "CN=Test CA");
  EXPECT_EQ(r->key_type, "EC P-256");
  EXPECT_EQ(r->fingerprint_sha256.size(), 64u);
  const int64_t now = std::time(nullptr);
  EXPECT_NEAR(static_cast<double>(r->not_before), static_cast<double>(now - 3600), 60);
  EXPECT_NEAR(static_cast<double>(r->not_after), static_cast<double>(now + 30 * 86400), 60);
  EXPECT_EQ(r->snis, (std::vector<std::string>{"api.example.com", "*.example.org"}));
  EXPECT_EQ(r->key_pem, leaf_->key_pem);
  EXPECT_EQ(r->client_verify, ClientVerify::kOff);

  const json out = toJson(*r);
  EXPECT_FALSE(out.contains("key"));
  EXPECT_EQ(out.dump().find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(out["default"], false);
  EXPECT_EQ(out["client_verify"], "off");
  // A GET's answer, with a key added, is a valid write (read-only fields are recomputed).
  json back = out;
  back["key"] = leaf_->key_pem;
  back["subject"] = "CN=forged";
  auto again = parseCertificate(back);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->subject, "CN=api.example.com");
}

TEST_F(CertificateTest, NamesEveryKeyTypeTheWayOperatorsSayIt) {
  for (auto [type, name] :
       {std::pair{TestKeyType::kEcP384, "EC P-384"}, std::pair{TestKeyType::kRsa2048, "RSA 2048"},
        std::pair{TestKeyType::kEd25519, "Ed25519"}}) {
    TestCertificate c = makeCertificate({.common_name = "x.example.com", .key_type = type});
    json b = body();
    b["cert"] = c.cert_pem;
    b["key"] = c.key_pem;
    auto r = parseCertificate(b);
    ASSERT_TRUE(r) << name << ": " << r.error().message;
    EXPECT_EQ(r->key_type, name);
  }
}

TEST_F(CertificateTest, RefusesKeysThatDoNotBelongOrAreWeak) {
  TestCertificate other = makeCertificate({.common_name = "other.example.com"});
  json b = body();
  b["key"] = other.key_pem;
  EXPECT_TRUE(hasFieldError(parseCertificate(b), "key", "not the private key of the leaf"));

  TestCertificate weak = makeCertificate({.key_type = TestKeyType::kRsa1024});
  b["cert"] = weak.cert_pem;
  b["key"] = weak.key_pem;
  EXPECT_TRUE(hasFieldError(parseCertificate(b), "key", "at least 2048"));

  b = body();
  b["key"] = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n";
  EXPECT_TRUE(hasFieldError(parseCertificate(b), "key", "must be a PEM private key"));
  b.erase("key");
  EXPECT_TRUE(hasFieldError(parseCertificate(b), "key", "is required"));
  EXPECT_TRUE(parseCertificate(b, /*key_required=*/false).ok());
}

TEST_F(CertificateTest, EveryBrokenFieldIsNamed) {
  const std::string truncated = leaf_->cert_pem.substr(0, leaf_->cert_pem.size() / 2);
  struct Case {
    json patch;
    std::string field;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {{{"cert", "hello"}}, "cert", "PEM certificates"},
           {{{"cert", truncated}}, "cert", "PEM certificates"},
           {{{"cert", leaf_->cert_pem + truncated}}, "cert", "PEM certificates"},
           {{{"cert", std::string(70 * 1024, 'a')}}, "cert", "at most 64 KiB"},
           {{{"cert", nullptr}}, "cert", "is required"},
           {{{"name", nullptr}}, "name", "is required"},
           {{{"snis", {"a.b.example.com", "*.*.example.com"}}}, "snis[1]", "wildcard"},
           {{{"snis", {"a*.example.com"}}}, "snis[0]", "wildcard"},
           {{{"snis", {"*.com"}}}, "snis[0]", "two labels"},
           {{{"snis", {"10.0.0.1"}}}, "snis[0]", "DNS name"},
           {{{"snis", {"bad_name.example.com"}}}, "snis[0]", "DNS name"},
           {{{"snis", {"a.example.com", "A.example.com"}}}, "snis[1]", "twice"},
           {{{"snis", json::array()}}, "snis", "unless default is true"},
           {{{"client_verify", "sometimes"}}, "client_verify", "one of off, optional, required"},
           {{{"client_verify", "required"}}, "client_ca", "is required when client_verify"},
           {{{"client_ca", "not a pem"}}, "client_ca", "PEM certificates"},
           {{{"default", "yes"}}, "default", ""},
           {{{"colour", "blue"}}, "colour", "unknown field"},
       }) {
    json input = body();
    input.merge_patch(c.patch);
    auto r = parseCertificate(input);
    EXPECT_TRUE(hasFieldError(r, c.field, c.message)) << c.patch.dump().substr(0, 200);
  }
}

TEST_F(CertificateTest, DefaultNeedsNoSnisAndClientVerifyTakesItsCa) {
  json b = body();
  b["snis"] = json::array();
  b["default"] = true;
  b["client_verify"] = "optional";
  b["client_ca"] = ca_->cert_pem;
  auto r = parseCertificate(b);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->is_default);
  EXPECT_EQ(r->client_verify, ClientVerify::kOptional);
  EXPECT_EQ(r->client_ca, ca_->cert_pem);
  EXPECT_EQ(toJson(*r)["client_verify"], "optional");
}

// A value of the sealed form (the model checks only the form; the store opens it).
std::string sealedSample() {
  return "v1:0123456789abcdef:" + base64Encode(std::string(12 + 16 + 40, 'x'));
}

TEST_F(CertificateTest, ASealedKeyIsTheAlternativeToTheKey) {
  json b = body();
  b.erase("key");
  b["key_encrypted"] = sealedSample();
  auto r = parseCertificate(b);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->key_encrypted, sealedSample());
  EXPECT_TRUE(r->key_pem.empty());
  EXPECT_FALSE(toJson(*r).contains("key_encrypted"));
  EXPECT_EQ(toJson(*r, /*with_sealed_key=*/true)["key_encrypted"], sealedSample());
  EXPECT_FALSE(toJson(*r, /*with_sealed_key=*/true).contains("key"));

  b["key"] = leaf_->key_pem;
  EXPECT_TRUE(hasFieldError(parseCertificate(b), "key_encrypted", "not both"));

  b.erase("key");
  for (const std::string& bad :
       {std::string("v1:abc"),
        std::string("v2:0123456789abcdef:") + base64Encode("0123456789abcdef0123456789abcdef"),
        std::string("v1:0123456789ABCDEF:") + base64Encode(std::string(40, 'x')),
        std::string("v1:0123456789abcdef:not base64"),
        std::string("v1:0123456789abcdef:") + base64Encode("short")}) {
    b["key_encrypted"] = bad;
    EXPECT_TRUE(hasFieldError(parseCertificate(b), "key_encrypted", "sealed key")) << bad;
  }
  b["key_encrypted"] = 7;
  EXPECT_TRUE(hasFieldError(parseCertificate(b), "key_encrypted", ""));
}

TEST_F(CertificateTest, ConfigCarriesCertificatesWithSealedKeys) {
  json entry = body();
  entry.erase("key");
  entry["key_encrypted"] = sealedSample();
  json keyless = body();
  keyless.erase("key");
  keyless["name"] = "keyless";
  keyless["snis"] = {"keyless.example.com"};
  auto config = parseConfig({{"certificates", {entry, keyless}}});
  ASSERT_TRUE(config) << config.error().message;
  ASSERT_EQ(config->certificates.size(), 2u);
  EXPECT_EQ(config->certificates[0].key_encrypted, sealedSample());
  EXPECT_TRUE(config->certificates[1].key_encrypted.empty());  // the store keeps the stored key

  const json exported = toJson(*config);
  EXPECT_EQ(exported["certificates"][0]["key_encrypted"], sealedSample());
  auto again = parseConfig(exported);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->certificates, config->certificates);

  json broken = entry;
  broken["cert"] = "nope";
  EXPECT_TRUE(hasFieldError(parseConfig({{"certificates", {keyless, broken}}}),
                            "certificates[1].cert", "PEM certificates"));
  EXPECT_TRUE(hasFieldError(parseConfig({{"certificates", {entry, entry}}}), "certificates[1].name",
                            "duplicate"));
}

TEST(SniMatchTest, AWildcardCoversExactlyOneLeftmostLabel) {
  EXPECT_TRUE(sniMatches("api.example.com", "api.example.com"));
  EXPECT_FALSE(sniMatches("api.example.com", "www.example.com"));
  EXPECT_TRUE(sniMatches("*.example.org", "a.example.org"));
  EXPECT_FALSE(sniMatches("*.example.org", "a.b.example.org"));
  EXPECT_FALSE(sniMatches("*.example.org", "example.org"));
  EXPECT_FALSE(sniMatches("*.example.org", ".example.org"));
  EXPECT_FALSE(sniMatches("*.example.org", "a.example.org.evil"));
}

}  // namespace
}  // namespace turnpike::model
