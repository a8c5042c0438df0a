// The TLS listener through the real binary (issue: TLS at the front door): `turnpike serve
// --proxy-listen-tls`, real handshakes from an OpenSSL client (tests/support/tls_client.h) and
// from curl, real upstreams. What a user meets: HTTPS requests routed like plain ones with
// X-Forwarded-Proto: https, routes' `protocols` (308 from plain to https), old protocol
// versions refused, resumption, and hostile input (garbage instead of a ClientHello, a stalled
// handshake) costing nothing but that connection.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"
#include "tests/support/tls_client.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;

// A connected loopback socket (blocking, with a receive timeout), or -1.
int connectTo(uint16_t port, int timeout_ms) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  timeval tv{timeout_ms / 1000, timeout_ms % 1000 * 1000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

class ProxyTlsTest : public ProxySuiteTest {
 public:
  static void SetUpTestSuite() {
    tls_port_ = pickFreePort();
    startSuite(
        {.extra_args = {"--workers", "2", "--access-log", "off", "--header-timeout-ms", "1500",
                        "--proxy-listen-tls", "127.0.0.1:" + std::to_string(tls_port_)}});
  }

 protected:
  // A TLS connection to the listener sending SNI host_ (no verification: the self-signed
  // certificate answers until certificates are uploaded).
  TlsConnection::Opened tls(TlsClientOptions options = {}) {
    if (options.server_name.empty()) options.server_name = host_;
    return TlsConnection::open(tls_port_, options);
  }

  inline static uint16_t tls_port_ = 0;
};

TEST_F(ProxyTlsTest, HttpsRequestsAreRoutedWithForwardedProtoHttps) {
  TestUpstream up("tls-a");
  up.start();
  route(service(up.url()), {{"paths", {"/a"}}});
  auto c = tls();
  ASSERT_TRUE(c) << c.error;
  EXPECT_EQ(c.connection->alpn(), "http/1.1");
  EXPECT_EQ(c.connection->peerCommonName(), "turnpike");  // no certificate uploaded yet
  // Keep-alive: several requests on the one connection.
  for (int i = 0; i < 3; ++i) {
    Response r = c.connection->request(
        "GET", "/a/x?i=" + std::to_string(i), host_,
        {{"X-Forwarded-Proto", "http"}, {"X-Client-Cert-Subject", "CN=forged"}});
    ASSERT_EQ(r.status, 200) << r;
    json echo = r.json();
    EXPECT_EQ(echo["upstream"], "tls-a");
    EXPECT_EQ(echo["headers"]["x-forwarded-proto"], "https");
    EXPECT_FALSE(echo["headers"].contains("x-client-cert-subject"))
        << "a client must not pose as having presented a certificate";
    EXPECT_EQ(echo["connection_requests"], i + 1);
  }
  // The plain listener still says http.
  EXPECT_EQ(proxy().get("/a/y").json()["headers"]["x-forwarded-proto"], "http");
}

TEST_F(ProxyTlsTest, HttpsOnlyRoutesRedirectPlainRequests) {
  TestUpstream up("tls-b");
  up.start();
  route(service(up.url()), {{"paths", {"/secure"}}, {"protocols", {"https"}}});
  route(service(up.url()), {{"paths", {"/plain"}}, {"protocols", {"http"}}});

  Response redirected = proxy().get("/secure/orders?page=2");
  EXPECT_TRUE(isProxyProblem(redirected, 308)) << redirected;
  EXPECT_EQ(redirected.headerOr("Location"),
            "https://" + host_ + ":" + std::to_string(tls_port_) + "/secure/orders?page=2");
  EXPECT_EQ(up.requestsServed(), 0);

  auto c = tls();
  ASSERT_TRUE(c) << c.error;
  Response served = c.connection->request("GET", "/secure/orders?page=2", host_);
  EXPECT_EQ(served.status, 200) << served;
  EXPECT_EQ(served.json()["query"], "page=2");

  // A route for plain HTTP only is not served over TLS.
  EXPECT_EQ(proxy().get("/plain/x").status, 200);
  Response refused = c.connection->request("GET", "/plain/x", host_);
  EXPECT_EQ(refused.status, 404) << refused;
}

TEST_F(ProxyTlsTest, RoutesRefuseProtocolsTheyDoNotKnow) {
  TestUpstream up("tls-c");
  up.start();
  const std::string svc = service(up.url());
  for (const json& protocols : {json::array(), json({"ftp"}), json({"https", "https"})}) {
    json body = routeBody(uniqueName("r"), svc);
    body["protocols"] = protocols;
    Response r = admin().post("/routes", body);
    EXPECT_TRUE(isProblem(r, 400)) << r;
    EXPECT_TRUE(namesField(r, protocols.size() == 1   ? "protocols[0]"
                              : protocols.size() == 2 ? "protocols[1]"
                                                      : "protocols"))
        << protocols.dump() << "\n"
        << r;
  }
}

TEST_F(ProxyTlsTest, OldProtocolVersionsAreRefused) {
  auto tls11 = tls({.min_version = TLS1_VERSION, .max_version = TLS1_1_VERSION});
  EXPECT_FALSE(tls11) << "TLS 1.1 must be refused";
  auto tls12 = tls({.max_version = TLS1_2_VERSION});
  ASSERT_TRUE(tls12) << tls12.error;
  EXPECT_EQ(tls12.connection->version(), "TLSv1.2");
  auto tls13 = tls();
  ASSERT_TRUE(tls13) << tls13.error;
  EXPECT_EQ(tls13.connection->version(), "TLSv1.3");
}

TEST_F(ProxyTlsTest, SessionsResumeAcrossWorkers) {
  TestUpstream up("tls-d");
  up.start();
  route(service(up.url()), {{"paths", {"/r"}}});
  SessionPtr session;
  {
    auto first = tls();
    ASSERT_TRUE(first) << first.error;
    EXPECT_FALSE(first.connection->resumed());
    ASSERT_EQ(first.connection->request("GET", "/r", host_).status, 200);
    session = first.connection->session();
  }
  // Two workers share the ticket keys: every new connection resumes, whichever accepts it.
  for (int i = 0; i < 6; ++i) {
    auto again = tls({.resume = session.get()});
    ASSERT_TRUE(again) << again.error;
    EXPECT_TRUE(again.connection->resumed()) << "connection " << i;
    EXPECT_EQ(again.connection->request("GET", "/r", host_).status, 200);
  }
}

TEST_F(ProxyTlsTest, GarbageInsteadOfAClientHelloClosesThatConnectionOnly) {
  const int fd = connectTo(tls_port_, 3000);
  ASSERT_GE(fd, 0);
  const std::string garbage = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";  // plain HTTP to the TLS port
  ASSERT_EQ(::send(fd, garbage.data(), garbage.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(garbage.size()));
  char buffer[512];
  ssize_t n;
  std::string answer;
  while ((n = ::recv(fd, buffer, sizeof buffer, 0)) > 0) answer.append(buffer, n);
  ::close(fd);
  EXPECT_EQ(answer.find("HTTP/1.1 200"), std::string::npos);
  EXPECT_EQ(n, 0) << "closed, not left hanging";
  auto c = tls();
  EXPECT_TRUE(c) << "the listener still serves: " << c.error;
  EXPECT_EQ(admin().get("/health").status, 200);
}

TEST_F(ProxyTlsTest, AStalledHandshakeIsCutByTheHeaderTimeout) {
  const int fd = connectTo(tls_port_, 6000);
  ASSERT_GE(fd, 0);
  // The first 5 bytes of a TLS record header claiming a long ClientHello, then nothing.
  const unsigned char partial[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};
  ASSERT_EQ(::send(fd, partial, sizeof partial, MSG_NOSIGNAL),
            static_cast<ssize_t>(sizeof partial));
  const auto started = std::chrono::steady_clock::now();
  char buffer[64];
  const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
  const auto waited = std::chrono::steady_clock::now() - started;
  ::close(fd);
  EXPECT_LE(n, 0) << "closed without an answer";
  EXPECT_GE(waited, std::chrono::milliseconds(1000));
  EXPECT_LT(waited, std::chrono::milliseconds(4000)) << "the 1.5 s header timeout covers it";
}

TEST_F(ProxyTlsTest, LargeBodiesCrossTlsBothWays) {
  TestUpstream up("tls-e");
  up.start();
  route(service(up.url()), {{"paths", {"/big"}}});
  auto c = tls();
  ASSERT_TRUE(c) << c.error;
  Response down = c.connection->request("GET", "/big?size=1048576", host_);
  ASSERT_EQ(down.status, 200) << down.error;
  EXPECT_EQ(down.body.size(), 1048576u);
  const std::string body(3 * 1024 * 1024 + 17, 'z');
  Response up_answer = c.connection->request("POST", "/big", host_, {}, body);
  ASSERT_EQ(up_answer.status, 200) << up_answer.error;
  EXPECT_EQ(up_answer.json()["body_bytes"], body.size());
}

TEST_F(ProxyTlsTest, CurlGetsAnswersOverHttps) {
  TestUpstream up("tls-f");
  up.start();
  route(service(up.url()), {{"paths", {"/curl"}}});
  const std::string command = "curl -sk --max-time 5 --resolve " + host_ + ":" +
                              std::to_string(tls_port_) + ":127.0.0.1 https://" + host_ + ":" +
                              std::to_string(tls_port_) +
                              "/curl/x -w ' %{http_code} %{http_version}'";
  FILE* pipe = ::popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ASSERT_EQ(::pclose(pipe), 0) << command << "\n" << out;
  EXPECT_NE(out.find("\"upstream\":\"tls-f\""), std::string::npos) << out;
  EXPECT_NE(out.find(" 200 1.1"), std::string::npos) << out;
}

}  // namespace
}  // namespace turnpike::test_support
