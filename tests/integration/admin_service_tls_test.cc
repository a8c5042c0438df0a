// A service's tls settings and https:// targets through the real binary (API.md, "Services may
// use TLS to their targets"): the client certificate given by name and answered as its id,
// every refusal naming its field, a certificate that a service presents kept from deletion
// (409), and GET /config -> PUT /config carrying tls unchanged.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/admin_fixture.h"
#include "tests/support/test_certificates.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class AdminServiceTlsTest : public AdminSuiteTest {
 protected:
  static void SetUpTestSuite() {
    AdminSuiteTest::SetUpTestSuite();
    upstream_ca_ =
        new TestCertificate(makeCertificate({.common_name = "Upstream CA", .is_ca = true}));
  }
  static void TearDownTestSuite() {
    delete upstream_ca_;
    AdminSuiteTest::TearDownTestSuite();
  }

  // A stored certificate for services to present; returns its id.
  std::string createClientCertificate(const std::string& name) {
    const TestCertificate pair = makeCertificate({.common_name = name + ".example.com"});
    json created = mustCreate("/certificates", {{"name", name},
                                                {"cert", pair.cert_pem},
                                                {"key", pair.key_pem},
                                                {"snis", {name + ".example.com"}}});
    return created.is_object() ? created["id"].get<std::string>() : "";
  }

  static json tlsServiceBody(const std::string& name, const json& tls) {
    return {
        {"name", name},
        {"targets", {{{"url", "HTTPS://Orders.Internal:8443/"}}, {{"url", "https://10.0.0.7"}}}},
        {"tls", tls}};
  }

  static TestCertificate* upstream_ca_;
};
TestCertificate* AdminServiceTlsTest::upstream_ca_ = nullptr;

TEST_F(AdminServiceTlsTest, CreateWithTheCertificateNameAnswersItsId) {
  const std::string cert_name = uniqueName("client-crt");
  const std::string cert_id = createClientCertificate(cert_name);
  ASSERT_FALSE(cert_id.empty());
  const std::string name = uniqueName("tls-svc");

  Response created =
      admin().post("/services", tlsServiceBody(name, {{"ca", upstream_ca_->cert_pem},
                                                      {"server_name", "Orders.Internal"},
                                                      {"client_certificate", cert_name}}));
  ASSERT_EQ(created.status, 201) << created;
  const json entity = created.json();
  EXPECT_EQ(entity["targets"][0]["url"], "https://orders.internal:8443");
  EXPECT_EQ(entity["targets"][1]["url"], "https://10.0.0.7");
  EXPECT_EQ(entity["tls"], (json{{"verify", true},
                                 {"ca", upstream_ca_->cert_pem},
                                 {"server_name", "orders.internal"},
                                 {"client_certificate", cert_id}}));
  EXPECT_EQ(mustGet("/services/" + name)["tls"], entity["tls"]);

  // A merge patch changes one tls field and keeps the others; null removes the object.
  Response patched = admin().patch("/services/" + name, {{"tls", {{"verify", false}}}});
  ASSERT_EQ(patched.status, 200) << patched;
  EXPECT_EQ(patched.json()["tls"]["verify"], false);
  EXPECT_EQ(patched.json()["tls"]["client_certificate"], cert_id);
  Response cleared = admin().patch("/services/" + name, {{"tls", nullptr}});
  ASSERT_EQ(cleared.status, 200) << cleared;
  EXPECT_TRUE(cleared.json()["tls"].is_null()) << cleared;

  // A service without tls answers "tls": null.
  const std::string plain = uniqueName("plain-svc");
  EXPECT_TRUE(mustCreate("/services", serviceBody(plain))["tls"].is_null());
}

TEST_F(AdminServiceTlsTest, RefusalsNameTheirFieldsAndStoreNothing) {
  const int64_t version = storedVersion();
  const std::string name = uniqueName("bad-tls");

  Response fields = admin().post("/services", tlsServiceBody(name, {{"verify", "yes"},
                                                                    {"ca", "not a certificate"},
                                                                    {"server_name", "a b"},
                                                                    {"sni", "x"}}));
  EXPECT_EQ(fields.status, 400) << fields;
  EXPECT_TRUE(isProblem(fields, 400));
  for (const char* field : {"tls.verify", "tls.ca", "tls.server_name", "tls.sni"}) {
    EXPECT_TRUE(namesField(fields, field)) << field;
  }

  Response unknown =
      admin().post("/services", tlsServiceBody(name, {{"client_certificate", uniqueName("nope")}}));
  EXPECT_EQ(unknown.status, 400) << unknown;
  EXPECT_TRUE(namesField(unknown, "tls.client_certificate")) << unknown;

  json same_port = serviceBody(name);
  same_port["targets"] = {{{"url", "https://orders.internal"}},
                          {{"url", "http://orders.internal:443"}}};
  Response duplicate = admin().post("/services", same_port);
  EXPECT_EQ(duplicate.status, 400) << duplicate;
  EXPECT_TRUE(namesField(duplicate, "targets[1].url")) << duplicate;

  EXPECT_EQ(admin().get("/services/" + name).status, 404);
  EXPECT_EQ(storedVersion(), version);
}

TEST_F(AdminServiceTlsTest, DeletingACertificateThatAServicePresentsIsAConflict) {
  const std::string cert_name = uniqueName("client-crt");
  ASSERT_FALSE(createClientCertificate(cert_name).empty());
  const std::string name = uniqueName("tls-svc");
  ASSERT_TRUE(mustCreate("/services", tlsServiceBody(name, {{"client_certificate", cert_name}}))
                  .is_object());
  const int64_t version = storedVersion();

  Response refused = admin().del("/certificates/" + cert_name);
  EXPECT_EQ(refused.status, 409) << refused;
  EXPECT_TRUE(isProblem(refused, 409));
  EXPECT_THAT(refused.json()["detail"].get<std::string>(), HasSubstr("used by services: " + name));
  EXPECT_EQ(admin().get("/certificates/" + cert_name).status, 200);
  EXPECT_EQ(storedVersion(), version);

  ASSERT_EQ(admin().del("/services/" + name).status, 204);
  Response deleted = admin().del("/certificates/" + cert_name);
  EXPECT_EQ(deleted.status, 204) << deleted;
}

TEST_F(AdminServiceTlsTest, ConfigExportImportsBackAndNamesAMissingCertificate) {
  const std::string cert_name = uniqueName("client-crt");
  const std::string cert_id = createClientCertificate(cert_name);
  const std::string name = uniqueName("tls-svc");
  ASSERT_TRUE(mustCreate("/services", tlsServiceBody(name, {{"verify", false},
                                                            {"client_certificate", cert_name}}))
                  .is_object());

  Response exported = admin().get("/config");
  ASSERT_EQ(exported.status, 200) << exported;
  json config = exported.json();
  std::size_t index = config["services"].size();
  for (std::size_t i = 0; i < config["services"].size(); ++i) {
    if (config["services"][i]["name"] == name) index = i;
  }
  ASSERT_LT(index, config["services"].size()) << config;
  EXPECT_EQ(config["services"][index]["tls"]["client_certificate"], cert_id);
  EXPECT_EQ(config["services"][index]["tls"]["verify"], false);

  const int64_t version = storedVersion();
  Response same = admin().put("/config", config);
  ASSERT_EQ(same.status, 200) << same;
  EXPECT_EQ(same.json()["changes"], json::array()) << same;
  EXPECT_EQ(storedVersion(), version);

  json dangling = config;
  dangling["services"][index]["tls"]["client_certificate"] = uniqueName("nope");
  Response refused = admin().put("/config", dangling);
  EXPECT_EQ(refused.status, 400) << refused;
  EXPECT_TRUE(namesField(refused, "services[" + std::to_string(index) + "].tls.client_certificate"))
      << refused;
  EXPECT_EQ(storedVersion(), version);
}

}  // namespace
}  // namespace turnpike::test_support
