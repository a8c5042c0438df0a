// TlsListener, CertificateTable and TicketKeys through real TLS handshakes between an OpenSSL
// client and the listener's server side, over an in-memory BIO pair (no sockets): which
// certificate SNI picks, which protocol versions and suites are refused, ALPN, client
// certificates, and session resumption across ticket key rotations.
#include "proxy/tls/tls_listener.h"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <vector>

#include "proxy/tls/certificate_table.h"
#include "tests/support/test_certificates.h"
#include "tests/support/tls_handshake.h"

namespace turnpike::proxy::tls {
namespace {

using test_support::CertificateSpec;
using test_support::makeCertificate;
using test_support::TestCertificate;

struct SslFree {
  void operator()(SSL* s) const { SSL_free(s); }
};

using ClientSpec = test_support::HandshakeClient;
using Outcome = test_support::HandshakeOutcome;

model::Certificate certificateOf(const std::string& name, const TestCertificate& made,
                                 std::vector<std::string> snis, bool is_default = false) {
  model::Certificate c;
  c.id = name;
  c.name = name;
  c.cert = made.cert_pem;
  c.key_pem = made.key_pem;
  c.snis = std::move(snis);
  c.is_default = is_default;
  EXPECT_TRUE(model::inspectCertificate(c.cert, c).ok());
  return c;
}

Outcome shake(TlsListener& listener, const CertificateTable* table, const ClientSpec& spec) {
  std::unique_ptr<SSL, SslFree> server(listener.newConnection(table));
  return test_support::handshakeInMemory(server.get(), spec);
}

class TlsListenerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ca_ = makeCertificate({.common_name = "Test CA", .is_ca = true});
    api_ = makeCertificate(
        {.common_name = "api.example.com", .dns_names = {"api.example.com"}, .issuer = &ca_});
    wild_ = makeCertificate(
        {.common_name = "wild.example.org", .dns_names = {"*.example.org"}, .issuer = &ca_});
    fallback_ = makeCertificate({.common_name = "default.example.net", .issuer = &ca_});
    auto made = TlsListener::make({});
    ASSERT_TRUE(made) << made.error().message;
    listener_ = std::move(*made);
  }

  std::shared_ptr<const CertificateTable> table(bool with_default) {
    std::vector<model::Certificate> certs = {
        certificateOf("api", api_, {"api.example.com"}),
        certificateOf("wild", wild_, {"*.example.org"}),
    };
    if (with_default) certs.push_back(certificateOf("fallback", fallback_, {}, true));
    auto built = cache_.build(certs);
    EXPECT_TRUE(built) << built.error().message;
    return built ? *built : nullptr;
  }

  TestCertificate ca_, api_, wild_, fallback_;
  ContextCache cache_;
  std::unique_ptr<TlsListener> listener_;
};

TEST_F(TlsListenerTest, SniPicksExactThenOneLabelWildcardThenDefault) {
  auto t = table(/*with_default=*/true);
  EXPECT_EQ(shake(*listener_, t.get(), {.sni = "api.example.com"}).server_cn, "api.example.com");
  EXPECT_EQ(shake(*listener_, t.get(), {.sni = "API.Example.COM"}).server_cn, "api.example.com");
  EXPECT_EQ(shake(*listener_, t.get(), {.sni = "a.example.org"}).server_cn, "wild.example.org");
  // A wildcard covers exactly one label.
  EXPECT_EQ(shake(*listener_, t.get(), {.sni = "a.b.example.org"}).server_cn,
            "default.example.net");
  EXPECT_EQ(shake(*listener_, t.get(), {.sni = "example.org"}).server_cn, "default.example.net");
  EXPECT_EQ(shake(*listener_, t.get(), {.sni = "other.test"}).server_cn, "default.example.net");
  EXPECT_EQ(shake(*listener_, t.get(), {}).server_cn, "default.example.net");  // no SNI
}

TEST_F(TlsListenerTest, WithoutDefaultTheSelfSignedCertificateIsServed) {
  auto t = table(/*with_default=*/false);
  Outcome o = shake(*listener_, t.get(), {.sni = "unknown.test"});
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(o.server_cn, "turnpike");
  EXPECT_EQ(shake(*listener_, nullptr, {.sni = "api.example.com"}).server_cn, "turnpike");
}

TEST_F(TlsListenerTest, RejectUnknownSniRefusesTheHandshake) {
  auto made = TlsListener::make({.reject_unknown_sni = true});
  ASSERT_TRUE(made);
  auto t = table(/*with_default=*/false);
  EXPECT_FALSE(shake(**made, t.get(), {.sni = "unknown.test"}).ok);
  EXPECT_FALSE(shake(**made, t.get(), {}).ok);
  EXPECT_TRUE(shake(**made, t.get(), {.sni = "api.example.com"}).ok);
}

TEST_F(TlsListenerTest, OldVersionsAndWeakSuitesAreRefused) {
  auto t = table(true);
  EXPECT_FALSE(
      shake(*listener_, t.get(),
            {.sni = "api.example.com", .max_version = TLS1_1_VERSION, .min_version = TLS1_VERSION})
          .ok);
  EXPECT_FALSE(
      shake(*listener_, t.get(),
            {.sni = "api.example.com", .max_version = TLS1_VERSION, .min_version = TLS1_VERSION})
          .ok);
  // TLS 1.2 without forward secrecy or with CBC: nothing in common.
  EXPECT_FALSE(shake(*listener_, t.get(),
                     {.sni = "api.example.com",
                      .max_version = TLS1_2_VERSION,
                      .tls12_ciphers = "AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA"})
                   .ok);
  Outcome tls12 =
      shake(*listener_, t.get(), {.sni = "api.example.com", .max_version = TLS1_2_VERSION});
  ASSERT_TRUE(tls12.ok);
  EXPECT_EQ(tls12.cipher.rfind("ECDHE-", 0), 0u) << tls12.cipher;
  EXPECT_TRUE(tls12.cipher.find("GCM") != std::string::npos ||
              tls12.cipher.find("CHACHA20") != std::string::npos)
      << tls12.cipher;
}

TEST_F(TlsListenerTest, AlpnPrefersH2ThenHttp11AndRefusesOnlyUnknownProtocols) {
  auto t = table(true);
  // Turnpike's order decides: h2 whenever the client offers it, whatever its own order.
  Outcome both = shake(*listener_, t.get(),
                       {.sni = "api.example.com", .alpn = std::string("\x08http/1.1\x02h2", 12)});
  ASSERT_TRUE(both.ok);
  EXPECT_EQ(both.alpn, "h2");
  Outcome http11 = shake(*listener_, t.get(),
                         {.sni = "api.example.com", .alpn = std::string("\x08http/1.1", 9)});
  ASSERT_TRUE(http11.ok);
  EXPECT_EQ(http11.alpn, "http/1.1");
  EXPECT_FALSE(
      shake(*listener_, t.get(), {.sni = "api.example.com", .alpn = std::string("\x06spdy/3", 7)})
          .ok);
  Outcome none = shake(*listener_, t.get(), {.sni = "api.example.com", .alpn = ""});
  ASSERT_TRUE(none.ok);  // no ALPN at all: HTTP/1.1 by default
  EXPECT_EQ(none.alpn, "");
}

TEST_F(TlsListenerTest, SessionsResumeAcrossOneKeyRotationNotTwo) {
  auto t = table(true);
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3");
    Outcome first = shake(*listener_, t.get(), {.sni = "api.example.com", .max_version = version});
    ASSERT_TRUE(first.ok);
    EXPECT_FALSE(first.resumed);
    Outcome again =
        shake(*listener_, t.get(),
              {.sni = "api.example.com", .max_version = version, .resume = first.session.get()});
    ASSERT_TRUE(again.ok);
    EXPECT_TRUE(again.resumed);

    listener_->ticketKeys().rotate(TicketKeys::Clock::now());
    Outcome after_one =
        shake(*listener_, t.get(),
              {.sni = "api.example.com", .max_version = version, .resume = first.session.get()});
    ASSERT_TRUE(after_one.ok);
    EXPECT_TRUE(after_one.resumed) << "the previous key still opens tickets";

    listener_->ticketKeys().rotate(TicketKeys::Clock::now());
    Outcome after_two =
        shake(*listener_, t.get(),
              {.sni = "api.example.com", .max_version = version, .resume = first.session.get()});
    ASSERT_TRUE(after_two.ok) << "an unknown ticket means a full handshake, not a failure";
    EXPECT_FALSE(after_two.resumed);
  }
}

TEST(TicketKeysTest, TheSealingKeyIsReplacedOnScheduleAndThePreviousOneStillOpens) {
  const TicketKeys::Clock::time_point t0 = TicketKeys::Clock::now();
  TicketKeys keys(std::chrono::hours(1));
  const TicketKeys::Key first = keys.sealingKey(t0);
  EXPECT_EQ(keys.sealingKey(t0 + std::chrono::minutes(59)).name, first.name);
  const TicketKeys::Key second = keys.sealingKey(t0 + std::chrono::minutes(61));
  EXPECT_NE(second.name, first.name);
  auto opened = keys.openingKey(first.name.data());
  ASSERT_TRUE(opened);
  EXPECT_FALSE(opened->second) << "the previous key opens, and asks for a new ticket";
  ASSERT_TRUE(keys.openingKey(second.name.data()));
  EXPECT_TRUE(keys.openingKey(second.name.data())->second);
  // A third key: the first is forgotten.
  keys.sealingKey(t0 + std::chrono::minutes(125));
  EXPECT_FALSE(keys.openingKey(first.name.data()));
  EXPECT_TRUE(keys.openingKey(second.name.data()));
}

TEST_F(TlsListenerTest, ASessionDoesNotResumeUnderAnotherCertificate) {
  auto t = table(true);
  Outcome first = shake(*listener_, t.get(), {.sni = "api.example.com"});
  ASSERT_TRUE(first.ok);
  Outcome other =
      shake(*listener_, t.get(), {.sni = "a.example.org", .resume = first.session.get()});
  ASSERT_TRUE(other.ok);
  EXPECT_FALSE(other.resumed);
  EXPECT_EQ(other.server_cn, "wild.example.org");
}

TEST_F(TlsListenerTest, ClientCertificatesRequiredOrOptional) {
  TestCertificate client_ca = makeCertificate({.common_name = "Clients CA", .is_ca = true});
  TestCertificate alice = makeCertificate({.common_name = "alice", .issuer = &client_ca});
  TestCertificate mallory = makeCertificate({.common_name = "mallory"});  // self-signed
  model::Certificate required = certificateOf("required", api_, {"api.example.com"});
  required.client_verify = model::ClientVerify::kRequired;
  required.client_ca = client_ca.cert_pem;
  model::Certificate optional = certificateOf("optional", wild_, {"*.example.org"});
  optional.client_verify = model::ClientVerify::kOptional;
  optional.client_ca = client_ca.cert_pem;
  auto built = cache_.build({required, optional});
  ASSERT_TRUE(built) << built.error().message;
  const CertificateTable* t = built->get();

  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SCOPED_TRACE(version == TLS1_2_VERSION ? "TLS 1.2" : "TLS 1.3");
    EXPECT_FALSE(shake(*listener_, t, {.sni = "api.example.com", .max_version = version}).ok);
    Outcome with_alice = shake(
        *listener_, t, {.sni = "api.example.com", .max_version = version, .client_cert = &alice});
    ASSERT_TRUE(with_alice.ok);
    EXPECT_TRUE(with_alice.peer_verified);
    EXPECT_FALSE(shake(*listener_, t,
                       {.sni = "api.example.com", .max_version = version, .client_cert = &mallory})
                     .ok);

    Outcome anonymous = shake(*listener_, t, {.sni = "a.example.org", .max_version = version});
    ASSERT_TRUE(anonymous.ok);
    EXPECT_FALSE(anonymous.peer_verified);
    EXPECT_TRUE(shake(*listener_, t,
                      {.sni = "a.example.org", .max_version = version, .client_cert = &alice})
                    .peer_verified);
    EXPECT_FALSE(shake(*listener_, t,
                       {.sni = "a.example.org", .max_version = version, .client_cert = &mallory})
                     .ok);
  }
}

TEST_F(TlsListenerTest, ContextsOfUnchangedCertificatesAreReused) {
  auto first = table(true);
  EXPECT_EQ(cache_.lastBuild().loaded, 3u);
  auto second = table(true);
  EXPECT_EQ(cache_.lastBuild().loaded, 0u);
  EXPECT_EQ(cache_.lastBuild().reused, 3u);
  // One certificate replaced: only it is loaded again.
  TestCertificate renewed = makeCertificate(
      {.common_name = "api.example.com", .dns_names = {"api.example.com"}, .issuer = &ca_});
  auto third = cache_.build({certificateOf("api", renewed, {"api.example.com"}),
                             certificateOf("wild", wild_, {"*.example.org"}),
                             certificateOf("fallback", fallback_, {}, true)});
  ASSERT_TRUE(third);
  EXPECT_EQ(cache_.lastBuild().loaded, 1u);
  EXPECT_EQ(cache_.lastBuild().reused, 2u);
  // The table built before still serves what it had (a handshake in flight keeps it).
  EXPECT_EQ(shake(*listener_, first.get(), {.sni = "api.example.com"}).server_cn,
            "api.example.com");
}

TEST_F(TlsListenerTest, ACertificateThatNoLongerLoadsFailsTheBuildNamingIt) {
  model::Certificate broken = certificateOf("broken", api_, {"api.example.com"});
  broken.key_pem = wild_.key_pem;  // another certificate's key
  auto built = cache_.build({broken});
  ASSERT_FALSE(built);
  EXPECT_NE(built.error().message.find("'broken'"), std::string::npos) << built.error().message;
}

}  // namespace
}  // namespace turnpike::proxy::tls
