// UpstreamContext and UpstreamContextCache through real TLS handshakes between the context's
// client side and an OpenSSL server, over an in-memory BIO pair (no sockets): which targets are
// trusted (the service's CA, names and IP addresses, the system store), why a refused one is
// refused, the client certificate presented to targets that ask, and which builds reuse a
// context.
#include "proxy/tls/upstream_context.h"

#include <gtest/gtest.h>
#include <openssl/err.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/snapshot_builder.h"
#include "tests/support/test_certificates.h"

namespace turnpike::proxy::tls {
namespace {

using test_support::CertificateSpec;
using test_support::makeCertificate;
using test_support::TestCertificate;

using SslPtr = std::unique_ptr<SSL, decltype(&SSL_free)>;

const TestCertificate& ca() {
  static const TestCertificate made =
      makeCertificate({.common_name = "Upstream CA", .is_ca = true});
  return made;
}

const TestCertificate& otherCa() {
  static const TestCertificate made = makeCertificate({.common_name = "Other CA", .is_ca = true});
  return made;
}

// A target's certificate for backend.internal and 127.0.0.1, signed by ca().
const TestCertificate& backendCertificate() {
  static const TestCertificate made = makeCertificate({.common_name = "backend.internal",
                                                       .dns_names = {"backend.internal"},
                                                       .ip_addresses = {"127.0.0.1"},
                                                       .issuer = &ca()});
  return made;
}

struct TargetSetup {
  const TestCertificate* certificate = &backendCertificate();
  const TestCertificate* client_ca = nullptr;  // set: a client certificate is required
};

struct TargetOutcome {
  bool ok = false;
  std::string failure;         // UpstreamContext::failure() when not ok
  std::string client_subject;  // what the target saw
  std::string sni;             // what the target was asked for
};

// The whole handshake of `context`'s client, connecting to `host`, with a server set up as
// `target` says.
TargetOutcome handshake(const UpstreamContext& context, const std::string& host,
                        TargetSetup target = {}) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> server_ctx(SSL_CTX_new(TLS_server_method()),
                                                               SSL_CTX_free);
  BIO* cert_bio = BIO_new_mem_buf(target.certificate->cert_pem.data(), -1);
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  BIO* key_bio = BIO_new_mem_buf(target.certificate->key_pem.data(), -1);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  EXPECT_EQ(SSL_CTX_use_certificate(server_ctx.get(), cert), 1);
  EXPECT_EQ(SSL_CTX_use_PrivateKey(server_ctx.get(), key), 1);
  X509_free(cert);
  EVP_PKEY_free(key);
  if (target.client_ca != nullptr) {
    BIO* ca_bio = BIO_new_mem_buf(target.client_ca->cert_pem.data(), -1);
    X509* authority = PEM_read_bio_X509(ca_bio, nullptr, nullptr, nullptr);
    BIO_free(ca_bio);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(server_ctx.get()), authority);
    X509_free(authority);
    SSL_CTX_set_verify(server_ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                       nullptr);
  }
  SslPtr server(SSL_new(server_ctx.get()), SSL_free);
  SslPtr client(context.newSsl(host), SSL_free);
  EXPECT_TRUE(client);
  BIO* client_side = nullptr;
  BIO* server_side = nullptr;
  BIO_new_bio_pair(&client_side, 0, &server_side, 0);
  SSL_set_bio(client.get(), client_side, client_side);
  SSL_set_bio(server.get(), server_side, server_side);
  SSL_set_connect_state(client.get());
  SSL_set_accept_state(server.get());

  TargetOutcome out;
  bool client_done = false;
  bool server_done = false;
  bool failed = false;
  for (int round = 0; round < 20 && !(client_done && server_done) && !failed; ++round) {
    for (SSL* side : {client.get(), server.get()}) {
      bool& done = side == client.get() ? client_done : server_done;
      if (done) continue;
      const int r = SSL_do_handshake(side);
      if (r == 1) {
        done = true;
      } else if (const int e = SSL_get_error(side, r);
                 e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        failed = true;
      }
    }
  }
  // TLS 1.3: the server checks the client's certificate after the client is done; a byte from
  // the client makes the client learn of a refusal.
  if (!failed && client_done) {
    char byte = 'x';
    failed = SSL_write(client.get(), &byte, 1) != 1 || SSL_read(server.get(), &byte, 1) != 1;
  }
  ERR_clear_error();
  out.ok = client_done && server_done && !failed;
  if (!out.ok) {
    out.failure = UpstreamContext::failure(client.get(), boost::system::error_code());
  }
  if (const char* name = SSL_get_servername(server.get(), TLSEXT_NAMETYPE_host_name)) {
    out.sni = name;
  }
  if (X509* peer = SSL_get0_peer_certificate(server.get())) {
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(peer), subject, sizeof subject);
    out.client_subject = subject;
  }
  return out;
}

std::shared_ptr<const UpstreamContext> make(model::ServiceTls settings,
                                            const model::Certificate* client = nullptr,
                                            const std::string& key = "") {
  auto made = UpstreamContext::make(&settings, client, key);
  EXPECT_TRUE(made.ok()) << (made.ok() ? "" : made.error().message);
  return made.ok() ? *made : nullptr;
}

TEST(UpstreamContextTest, TrustsTheServiceCaAndChecksTheTargetsName) {
  auto context = make({.ca = ca().cert_pem});
  TargetOutcome named = handshake(*context, "backend.internal");
  EXPECT_TRUE(named.ok) << named.failure;
  EXPECT_EQ(named.sni, "backend.internal") << "SNI carries the target's host";

  TargetOutcome by_ip = handshake(*context, "127.0.0.1");
  EXPECT_TRUE(by_ip.ok) << "an IP target is checked against the certificate's IP entries: "
                        << by_ip.failure;
  EXPECT_EQ(by_ip.sni, "") << "no SNI for an IP address";

  TargetOutcome wrong_name = handshake(*context, "other.internal");
  EXPECT_FALSE(wrong_name.ok);
  EXPECT_NE(wrong_name.failure.find("certificate verify failed"), std::string::npos)
      << wrong_name.failure;
  EXPECT_NE(wrong_name.failure.find("other.internal"), std::string::npos)
      << "names the name that was asked for: " << wrong_name.failure;

  TargetOutcome wrong_ip = handshake(*context, "127.0.0.2");
  EXPECT_FALSE(wrong_ip.ok);
  EXPECT_NE(wrong_ip.failure.find("127.0.0.2"), std::string::npos) << wrong_ip.failure;
}

TEST(UpstreamContextTest, ServerNameReplacesTheHostForSniAndTheCheck) {
  auto context = make({.ca = ca().cert_pem, .server_name = "backend.internal"});
  TargetOutcome o = handshake(*context, "10.1.2.3");
  EXPECT_TRUE(o.ok) << o.failure;
  EXPECT_EQ(o.sni, "backend.internal");
}

TEST(UpstreamContextTest, AnotherCaOrTheSystemStoreRefusesTheTarget) {
  TargetOutcome other = handshake(*make({.ca = otherCa().cert_pem}), "backend.internal");
  EXPECT_FALSE(other.ok);
  EXPECT_NE(other.failure.find("unable to get local issuer certificate"), std::string::npos)
      << other.failure;

  // Verification is on by default, against the system store, which knows no test CA.
  TargetOutcome system = handshake(*make({}), "backend.internal");
  EXPECT_FALSE(system.ok);
  EXPECT_NE(system.failure.find("certificate verify failed"), std::string::npos) << system.failure;

  const TestCertificate self_signed =
      makeCertificate({.common_name = "backend.internal", .dns_names = {"backend.internal"}});
  TargetOutcome self =
      handshake(*make({.ca = ca().cert_pem}), "backend.internal", {.certificate = &self_signed});
  EXPECT_FALSE(self.ok);
  EXPECT_NE(self.failure.find("self-signed"), std::string::npos) << self.failure;
}

TEST(UpstreamContextTest, VerifyOffAcceptsAnyCertificate) {
  const TestCertificate self_signed = makeCertificate({.common_name = "anything"});
  TargetOutcome o =
      handshake(*make({.verify = false}), "backend.internal", {.certificate = &self_signed});
  EXPECT_TRUE(o.ok) << o.failure;
}

TEST(UpstreamContextTest, PresentsTheClientCertificateToATargetThatRequiresOne) {
  const TestCertificate client_ca = makeCertificate({.common_name = "Client CA", .is_ca = true});
  const TestCertificate gateway =
      makeCertificate({.common_name = "turnpike-gateway", .issuer = &client_ca});
  model::Certificate certificate;
  certificate.id = "c1";
  certificate.name = "gateway";
  certificate.cert = gateway.cert_pem;

  TargetOutcome without =
      handshake(*make({.ca = ca().cert_pem}), "backend.internal", {.client_ca = &client_ca});
  EXPECT_FALSE(without.ok) << "the target requires a client certificate";

  auto context =
      make({.ca = ca().cert_pem, .client_certificate = "c1"}, &certificate, gateway.key_pem);
  TargetOutcome with = handshake(*context, "backend.internal", {.client_ca = &client_ca});
  EXPECT_TRUE(with.ok) << with.failure;
  EXPECT_NE(with.client_subject.find("CN=turnpike-gateway"), std::string::npos)
      << with.client_subject;
}

TEST(UpstreamContextTest, AKeyThatDoesNotMatchTheClientCertificateIsAnError) {
  const TestCertificate gateway = makeCertificate({.common_name = "gateway"});
  const TestCertificate other = makeCertificate({.common_name = "other"});
  model::Certificate certificate;
  certificate.name = "gateway";
  certificate.cert = gateway.cert_pem;
  model::ServiceTls settings{.client_certificate = "c1"};
  auto made = UpstreamContext::make(&settings, &certificate, other.key_pem);
  ASSERT_FALSE(made.ok());
  EXPECT_NE(made.error().message.find("gateway"), std::string::npos) << made.error().message;
}

model::Service httpsService(const std::string& id, std::string url,
                            std::optional<model::ServiceTls> tls = std::nullopt) {
  model::Service s;
  s.id = id;
  s.name = "svc-" + id;
  s.targets.push_back({.url = std::move(url)});
  s.tls = std::move(tls);
  return s;
}

TEST(UpstreamContextCacheTest, MakesContextsForHttpsServicesAndKeepsUnchangedOnes) {
  UpstreamContextCache cache;
  std::vector<model::Service> services = {
      httpsService("a", "https://backend.internal:8443", model::ServiceTls{.ca = ca().cert_pem}),
      httpsService("b", "http://plain.internal:8080"),
      httpsService("c", "https://api.example.com")};
  auto first = cache.build(services, {});
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(first->size(), 2u) << "only services with https targets get one";
  EXPECT_FALSE(first->contains("b"));

  auto again = cache.build(services, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->at("a").get(), first->at("a").get()) << "unchanged settings keep the context";
  EXPECT_EQ(again->at("c").get(), first->at("c").get());

  services[0].tls->ca = otherCa().cert_pem;
  auto changed = cache.build(services, {});
  ASSERT_TRUE(changed.ok());
  EXPECT_NE(changed->at("a").get(), first->at("a").get()) << "a new CA makes a new context";
  EXPECT_EQ(changed->at("c").get(), first->at("c").get());
  TargetOutcome o = handshake(*changed->at("a"), "backend.internal");
  EXPECT_FALSE(o.ok) << "the new context trusts only the new CA";
}

TEST(UpstreamContextCacheTest, ClientCertificatesAreOpenedOnceAndFollowTheirReplacement) {
  const TestCertificate first_pair = makeCertificate({.common_name = "gateway-1"});
  const TestCertificate second_pair = makeCertificate({.common_name = "gateway-2"});
  model::Certificate certificate;
  certificate.id = "cert-1";
  certificate.name = "gateway";
  certificate.cert = first_pair.cert_pem;
  certificate.key_encrypted = "sealed-1";
  int opened = 0;
  auto open_key = [&](const model::Certificate& c) -> model::Result<std::string> {
    ++opened;
    return c.key_encrypted == "sealed-1" ? first_pair.key_pem : second_pair.key_pem;
  };
  UpstreamContextCache cache;
  std::vector<model::Service> services = {httpsService(
      "a", "https://backend.internal", model::ServiceTls{.client_certificate = "cert-1"})};
  auto first = cache.build(services, {certificate}, open_key);
  ASSERT_TRUE(first.ok()) << first.error().message;
  ASSERT_TRUE(cache.build(services, {certificate}, open_key).ok());
  EXPECT_EQ(opened, 1) << "an unchanged certificate is not unsealed again";

  certificate.cert = second_pair.cert_pem;
  certificate.key_encrypted = "sealed-2";
  auto replaced = cache.build(services, {certificate}, open_key);
  ASSERT_TRUE(replaced.ok()) << replaced.error().message;
  EXPECT_EQ(opened, 2);
  EXPECT_NE(replaced->at("a").get(), first->at("a").get());

  auto missing = cache.build(services, {}, open_key);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("tls.client_certificate"), std::string::npos)
      << missing.error().message;
}

TEST(UpstreamContextCacheTest, SnapshotsPoolHttpsTargetsApartPerTlsSettings) {
  UpstreamContextCache cache;
  model::Config config;
  config.services = {
      httpsService("a", "https://backend.internal", model::ServiceTls{.ca = ca().cert_pem}),
      httpsService("b", "https://backend.internal", model::ServiceTls{.verify = false}),
      httpsService("c", "https://backend.internal:443", model::ServiceTls{.ca = ca().cert_pem})};
  auto contexts = cache.build(config.services, {});
  ASSERT_TRUE(contexts.ok());
  auto built = SnapshotBuilder::build(std::move(config), {.upstream = std::move(*contexts)});
  ASSERT_TRUE(built.ok()) << built.error().message;
  const auto& services = (*built)->services();
  ASSERT_EQ(services.size(), 3u);
  const UpstreamTarget& a = services[0].targets[0];
  EXPECT_TRUE(a.tls);
  EXPECT_EQ(a.port, 443);
  EXPECT_NE(services[0].tls, nullptr);
  EXPECT_TRUE(a.poolKey().starts_with("https://backend.internal#")) << a.poolKey();
  EXPECT_NE(a.poolKey(), services[1].targets[0].poolKey())
      << "a connection made without verification never serves a verifying service";
  EXPECT_EQ(a.poolKey().substr(a.poolKey().find('#')),
            services[2].targets[0].poolKey().substr(services[2].targets[0].poolKey().find('#')))
      << "the same settings give the same tag";
}

}  // namespace
}  // namespace turnpike::proxy::tls
