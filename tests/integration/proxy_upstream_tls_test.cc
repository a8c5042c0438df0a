// TLS to upstream targets through the real binary, configured through the admin API as a user
// would: a service with an https:// target and `tls` (its CA, server name and a client
// certificate uploaded to /certificates), real TLS servers (tests/support/tls_front.h) in front
// of real upstreams. What a user sees: answers over verified, pooled TLS connections; a target
// that does not verify refused with a 502 that says why, and a log line; the client certificate
// presented where the target requires one; health checks over the same TLS.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_upstream.h"
#include "tests/support/tls_front.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;
using test::TlsFront;

class ProxyUpstreamTlsTest : public ProxySuiteTest {
 protected:
  static const TestCertificate& ca() {
    static const TestCertificate made =
        makeCertificate({.common_name = "Backends CA", .is_ca = true});
    return made;
  }
  static const TestCertificate& leaf() {
    static const TestCertificate made = makeCertificate(
        {.common_name = "orders.internal", .dns_names = {"orders.internal"}, .issuer = &ca()});
    return made;
  }
  static std::string httpsUrl(const TlsFront& front) {
    return "https://127.0.0.1:" + std::to_string(front.port());
  }
};

TEST_F(ProxyUpstreamTlsTest, AVerifiedHttpsTargetAnswersOverOnePooledConnection) {
  TestUpstream up("tls-orders");
  up.start();
  TlsFront front(up.port(), {.cert_pem = leaf().cert_pem, .key_pem = leaf().key_pem});
  front.start();
  route(service(httpsUrl(front),
                {{"tls", {{"ca", ca().cert_pem}, {"server_name", "orders.internal"}}}}),
        {{"paths", {"/orders"}}});
  HttpClient client = proxy();
  for (int i = 1; i <= 10; ++i) {
    Response r = client.get("/orders/" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(servedBy(r), "tls-orders");
  }
  EXPECT_EQ(front.handshakes(), 1u) << "ten requests, one TLS handshake";
  EXPECT_EQ(up.connectionsAccepted(), 1u);
}

TEST_F(ProxyUpstreamTlsTest, ATargetThatDoesNotVerifyIsA502ThatSaysWhyAndALogLine) {
  TestUpstream up("tls-untrusted");
  up.start();
  TlsFront front(up.port(), {.cert_pem = leaf().cert_pem, .key_pem = leaf().key_pem});
  front.start();
  // No `tls`: verification is on by default, against the system store, which does not know
  // the tests' CA.
  route(service(httpsUrl(front)), {{"paths", {"/default"}}});
  route(service(httpsUrl(front), {{"tls", {{"ca", ca().cert_pem}}}}), {{"paths", {"/by-ip"}}});
  route(service(httpsUrl(front), {{"tls", {{"verify", false}}}}), {{"paths", {"/unverified"}}});

  Response refused = proxy().get("/default");
  EXPECT_TRUE(isProxyProblem(refused, 502)) << refused;
  EXPECT_NE(refused.json()["detail"].get<std::string>().find(
                "TLS handshake with " + httpsUrl(front) +
                " failed: certificate verify failed: unable to get local issuer certificate"),
            std::string::npos)
      << refused;
  // The certificate is for orders.internal, not for the target's address.
  Response by_ip = proxy().get("/by-ip");
  EXPECT_TRUE(isProxyProblem(by_ip, 502)) << by_ip;
  EXPECT_NE(by_ip.json()["detail"].get<std::string>().find("127.0.0.1"), std::string::npos)
      << by_ip;
  EXPECT_EQ(up.requestsServed(), 0u) << "nothing reached the upstream";
  EXPECT_TRUE(eventually([&] {
    return process().stderrText().find("TLS handshake failed: certificate verify failed") !=
           std::string::npos;
  })) << "a log line says why";

  EXPECT_EQ(servedBy(proxy().get("/unverified")), "tls-untrusted") << "verify: false trusts it";
}

TEST_F(ProxyUpstreamTlsTest, TheUploadedClientCertificateIsPresentedToTheTarget) {
  // The certificate Turnpike presents; also one it could serve, so it names a server name.
  const std::string certificate = "edge-" + host_.substr(0, host_.find('.'));
  const std::string sni = certificate + ".gateway.test";
  const TestCertificate client_ca = makeCertificate({.common_name = "Gateways CA", .is_ca = true});
  const TestCertificate gateway =
      makeCertificate({.common_name = "turnpike-edge", .dns_names = {sni}, .issuer = &client_ca});
  TestUpstream up("tls-mtls");
  up.start();
  TlsFront front(up.port(), {.cert_pem = leaf().cert_pem,
                             .key_pem = leaf().key_pem,
                             .client_ca_pem = client_ca.cert_pem});
  front.start();
  create("/certificates", {{"name", certificate},
                           {"cert", gateway.cert_pem},
                           {"key", gateway.key_pem},
                           {"snis", {sni}}});
  const json tls = {{"ca", ca().cert_pem}, {"server_name", "orders.internal"}};
  route(service(httpsUrl(front), {{"tls", tls}}), {{"paths", {"/anonymous"}}});
  json with_client = tls;
  with_client["client_certificate"] = certificate;
  route(service(httpsUrl(front), {{"tls", with_client}}), {{"paths", {"/mtls"}}});

  Response anonymous = proxy().get("/anonymous");
  EXPECT_TRUE(isProxyProblem(anonymous, 502)) << "the target requires a client certificate";
  Response mtls = proxy().get("/mtls");
  EXPECT_EQ(servedBy(mtls), "tls-mtls") << mtls;
  EXPECT_NE(front.lastClientSubject().find("CN=turnpike-edge"), std::string::npos)
      << front.lastClientSubject();
}

TEST_F(ProxyUpstreamTlsTest, HealthChecksUseTheServiceTlsSettings) {
  TestUpstream up("tls-health");
  up.start();
  TlsFront front(up.port(), {.cert_pem = leaf().cert_pem, .key_pem = leaf().key_pem});
  front.start();
  const json check = {{"path", "/healthz"}, {"interval_ms", 100}, {"unhealthy_after", 1}};
  route(service(httpsUrl(front),
                {{"tls", {{"ca", ca().cert_pem}, {"server_name", "orders.internal"}}},
                 {"health_check", check}}),
        {{"paths", {"/healthy"}}});
  EXPECT_TRUE(eventually([&] { return up.healthChecks() >= 2; }))
      << "probes reach the upstream through TLS";
  EXPECT_EQ(servedBy(proxy().get("/healthy")), "tls-health");
}

}  // namespace
}  // namespace turnpike::test_support
