// TLS to upstream targets through the proxy server, in process, on loopback: real TLS servers in
// front of real upstream servers (tests/support/tls_front.h), snapshots built with the contexts
// app/tls_snapshots.cc would give them. What a user sees: https:// targets answered over pooled
// TLS connections, a target that does not verify refused with a 502 that says why, the client
// certificate presented where it is asked for, connections never shared between services with
// other TLS settings, and health checks that speak TLS the same way.
#include "proxy/upstream/upstream_connect.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "model/route.h"
#include "model/service.h"
#include "proxy/proxy_server.h"
#include "proxy/snapshot_builder.h"
#include "proxy/snapshot_registry.h"
#include "proxy/tls/upstream_context.h"
#include "proxy/upstream/health_checker.h"
#include "tests/support/http_client.h"
#include "tests/support/test_certificates.h"
#include "tests/support/test_upstream.h"
#include "tests/support/tls_front.h"

namespace turnpike::proxy::upstream {
namespace {

using nlohmann::json;
using test::TestUpstream;
using test::TlsFront;
using test_support::HttpClient;
using test_support::makeCertificate;
using test_support::TestCertificate;

const TestCertificate& upstreamCa() {
  static const TestCertificate made =
      makeCertificate({.common_name = "Upstream CA", .is_ca = true});
  return made;
}

const TestCertificate& upstreamLeaf() {
  static const TestCertificate made = makeCertificate({.common_name = "backend.internal",
                                                       .dns_names = {"backend.internal"},
                                                       .ip_addresses = {"127.0.0.1"},
                                                       .issuer = &upstreamCa()});
  return made;
}

struct HttpsService {
  std::string name;
  std::string url;
  std::optional<model::ServiceTls> tls;
  std::optional<model::HealthCheck> health_check = std::nullopt;
};

class UpstreamTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    up_.start();
    front_ = std::make_unique<TlsFront>(up_.port(),
                                        test::TlsFrontOptions{.cert_pem = upstreamLeaf().cert_pem,
                                                              .key_pem = upstreamLeaf().key_pem});
    front_->start();
    ProxyOptions options;
    options.host = "127.0.0.1";
    options.port = 0;
    options.workers = 1;
    proxy_ = std::make_unique<ProxyServer>(registry_, options);
    ASSERT_TRUE(proxy_->start().ok());
  }
  void TearDown() override { proxy_->stop(); }

  std::string frontUrl() const { return "https://127.0.0.1:" + std::to_string(front_->port()); }

  // Publishes one route per service, at /<name>, built as the serving process builds them.
  void publish(const std::vector<HttpsService>& services,
               const std::vector<model::Certificate>& certificates = {}) {
    model::Config config;
    config.version = ++version_;
    config.certificates = certificates;
    int n = 0;
    for (const HttpsService& s : services) {
      model::Service service;
      service.id = "svc-" + std::to_string(n);
      service.name = s.name;
      service.targets.push_back({.url = s.url});
      service.tls = s.tls;
      service.health_check = s.health_check;
      service.retries = 0;
      config.services.push_back(service);
      auto route = model::parseRoute(json{{"service", service.id}, {"paths", {"/" + s.name}}});
      ASSERT_TRUE(route.ok());
      route->id = "route-" + std::to_string(n++);
      config.routes.push_back(*route);
    }
    auto contexts = cache_.build(config.services, config.certificates);
    ASSERT_TRUE(contexts.ok()) << contexts.error().message;
    auto built = SnapshotBuilder::build(std::move(config), {.upstream = std::move(*contexts)});
    ASSERT_TRUE(built.ok()) << built.error().message;
    ASSERT_TRUE(registry_.publish(*built));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (registry_.minServedVersion() < registry_.version() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }

  HttpClient client() { return HttpClient("127.0.0.1", proxy_->port()); }

  TestUpstream up_{"secure"};
  std::unique_ptr<TlsFront> front_;
  SnapshotRegistry registry_;
  tls::UpstreamContextCache cache_;
  std::unique_ptr<ProxyServer> proxy_;
  int64_t version_ = 0;
};

TEST_F(UpstreamTlsTest, AnHttpsTargetIsVerifiedAndItsConnectionsArePooled) {
  publish({{.name = "orders",
            .url = frontUrl(),
            .tls = model::ServiceTls{.ca = upstreamCa().cert_pem}}});
  HttpClient c = client();
  for (int i = 1; i <= 5; ++i) {
    auto r = c.get("/orders/" + std::to_string(i));
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.json()["path"], "/" + std::to_string(i)) << "the route strips /orders";
    EXPECT_EQ(r.json()["connection_requests"], i) << "the same upstream connection each time";
  }
  EXPECT_EQ(front_->handshakes(), 1u) << "one TLS handshake for five requests";

  // Bodies both ways, larger than a TLS record and than the proxy's relay piece.
  const std::string body(300 * 1024 + 7, 'b');
  auto posted = c.request("POST", "/orders/big", body, {{"Content-Type", "text/plain"}});
  ASSERT_EQ(posted.status, 200) << posted;
  EXPECT_EQ(posted.json()["body_bytes"], body.size());
  auto big = c.get("/orders/big?size=1048576");
  ASSERT_EQ(big.status, 200) << big.error;
  EXPECT_EQ(big.body.size(), 1048576u);
}

TEST_F(UpstreamTlsTest, ATargetThatDoesNotVerifyIsA502ThatSaysWhy) {
  const TestCertificate other_ca = makeCertificate({.common_name = "Other CA", .is_ca = true});
  publish(
      {{.name = "untrusted", .url = frontUrl(), .tls = model::ServiceTls{.ca = other_ca.cert_pem}},
       {.name = "misnamed",
        .url = frontUrl(),
        .tls = model::ServiceTls{.ca = upstreamCa().cert_pem, .server_name = "db.internal"}},
       {.name = "system", .url = frontUrl(), .tls = std::nullopt}});
  HttpClient c = client();
  auto untrusted = c.get("/untrusted");
  EXPECT_EQ(untrusted.status, 502) << untrusted;
  EXPECT_NE(untrusted.body.find("certificate verify failed: unable to get local issuer"),
            std::string::npos)
      << untrusted.body;
  EXPECT_NE(untrusted.body.find(frontUrl()), std::string::npos) << "names the target";

  auto misnamed = c.get("/misnamed");
  EXPECT_EQ(misnamed.status, 502) << misnamed;
  EXPECT_NE(misnamed.body.find("db.internal"), std::string::npos) << misnamed.body;

  // No `tls` at all: verification is on, against the system store.
  auto system = c.get("/system");
  EXPECT_EQ(system.status, 502) << system;
  EXPECT_EQ(up_.requestsServed(), 0u) << "nothing reached the upstream";
}

TEST_F(UpstreamTlsTest, ConnectionsAreNotSharedBetweenServicesWithOtherSettings) {
  const TestCertificate other_ca = makeCertificate({.common_name = "Other CA", .is_ca = true});
  publish(
      {{.name = "lax", .url = frontUrl(), .tls = model::ServiceTls{.verify = false}},
       {.name = "strict", .url = frontUrl(), .tls = model::ServiceTls{.ca = other_ca.cert_pem}}});
  HttpClient c = client();
  ASSERT_EQ(c.get("/lax").status, 200);  // leaves a pooled connection to the same url
  auto strict = c.get("/strict");
  EXPECT_EQ(strict.status, 502) << "the lax service's connection is not reused: " << strict;
  EXPECT_EQ(c.get("/lax").status, 200);
}

TEST_F(UpstreamTlsTest, TheClientCertificateIsPresentedToATargetThatRequiresOne) {
  const TestCertificate client_ca = makeCertificate({.common_name = "Client CA", .is_ca = true});
  const TestCertificate gateway =
      makeCertificate({.common_name = "turnpike-gateway", .issuer = &client_ca});
  TlsFront strict(up_.port(), {.cert_pem = upstreamLeaf().cert_pem,
                               .key_pem = upstreamLeaf().key_pem,
                               .client_ca_pem = client_ca.cert_pem});
  strict.start();
  const std::string url = "https://127.0.0.1:" + std::to_string(strict.port());
  model::Certificate certificate;
  certificate.id = "cert-gateway";
  certificate.name = "gateway";
  certificate.cert = gateway.cert_pem;
  certificate.key_pem = gateway.key_pem;
  publish({{.name = "anonymous", .url = url, .tls = model::ServiceTls{.ca = upstreamCa().cert_pem}},
           {.name = "mtls",
            .url = url,
            .tls = model::ServiceTls{.ca = upstreamCa().cert_pem,
                                     .client_certificate = "cert-gateway"}}},
          {certificate});
  HttpClient c = client();
  auto anonymous = c.get("/anonymous");
  EXPECT_EQ(anonymous.status, 502) << anonymous;
  auto mtls = c.get("/mtls");
  EXPECT_EQ(mtls.status, 200) << mtls;
  EXPECT_NE(strict.lastClientSubject().find("CN=turnpike-gateway"), std::string::npos)
      << strict.lastClientSubject();
}

TEST_F(UpstreamTlsTest, HealthChecksSpeakTlsWithTheServiceSettings) {
  const TestCertificate other_ca = makeCertificate({.common_name = "Other CA", .is_ca = true});
  const model::HealthCheck check{.path = "/healthz", .interval_ms = 100, .unhealthy_after = 1};
  publish({{.name = "good",
            .url = frontUrl(),
            .tls = model::ServiceTls{.ca = upstreamCa().cert_pem},
            .health_check = check},
           {.name = "bad",
            .url = frontUrl(),
            .tls = model::ServiceTls{.ca = other_ca.cert_pem},
            .health_check = check}});
  std::mutex mu;
  std::map<std::string, bool> health;  // by service id, the last transition
  HealthChecker checker(registry_,
                        [&](const std::string& service_id, const std::string&, bool healthy) {
                          std::lock_guard lock(mu);
                          health[service_id] = healthy;
                        });
  checker.start();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (up_.healthChecks() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  checker.stop();
  EXPECT_GE(up_.healthChecks(), 3u) << "the good service's probes reach /healthz over TLS";
  std::lock_guard lock(mu);
  EXPECT_EQ(health.count("svc-0"), 0u) << "the good service's target never went down";
  ASSERT_EQ(health.count("svc-1"), 1u) << "the unverifiable target is marked down";
  EXPECT_FALSE(health["svc-1"]);
}

}  // namespace
}  // namespace turnpike::proxy::upstream
