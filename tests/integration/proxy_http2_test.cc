// HTTP/2 from clients through the real binary: h2c with prior knowledge beside HTTP/1.1 on the
// plain listener, h2 by ALPN on the TLS listener, with real clients (curl, h2load). Each stream
// is an exchange through the same pipeline as an HTTP/1.1 request: routes, API keys, rate limits,
// redirects and Turnpike's own problem answers behave the same; bodies stream both ways under
// HTTP/2 flow control to HTTP/1.1 upstreams.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/sha256.h"
#include "tests/support/test_upstream.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

struct CommandResult {
  int exit_code = -1;
  std::string out;
};

CommandResult runCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  std::array<char, 4096> buffer;
  while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) {
    result.out.append(buffer.data(), n);
  }
  const int status = ::pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

// What curl got: the body, then its status and HTTP version, and the response headers.
struct CurlAnswer {
  int status = 0;
  std::string version;  // "2", "1.1"
  std::string headers;  // lower-cased by HTTP/2 already; as received for HTTP/1.1
  std::string body;
  std::string error;
};

class ProxyHttp2Test : public ProxySuiteTest {
 public:
  static void SetUpTestSuite() {
    tls_port_ = pickFreePort();
    startSuite({.extra_args = {"--workers", "2", "--access-log", "off", "--proxy-listen-tls",
                               "127.0.0.1:" + std::to_string(tls_port_)}});
  }

 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    dir_ = fs::temp_directory_path() / ("turnpike-h2-" + uniqueName("t"));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // curl to host_ on the plain listener with h2c prior knowledge (or `protocol`), or on the TLS
  // listener (`tls`, ALPN), with `options` before the URL.
  CurlAnswer curl(const std::string& path, const std::string& options = "",
                  const std::string& protocol = "--http2-prior-knowledge", bool tls = false) {
    const uint16_t port = tls ? tls_port_ : process().proxyPort();
    const std::string authority = host_ + ":" + std::to_string(port);
    const fs::path headers = dir_ / "headers";
    const fs::path body = dir_ / "body";
    const CommandResult r =
        runCommand("curl -sS -k " + protocol + " --max-time 20 --resolve " + authority +
                   ":127.0.0.1 -D " + headers.string() + " -o " + body.string() + " " + options +
                   " -w '%{http_code} %{http_version}' '" + (tls ? "https" : "http") + "://" +
                   authority + path + "'");
    CurlAnswer answer;
    if (r.exit_code != 0) answer.error = r.out;
    std::sscanf(r.out.c_str(), "%d", &answer.status);
    if (const std::size_t space = r.out.find(' '); space != std::string::npos) {
      answer.version = r.out.substr(space + 1);
    }
    std::ifstream h(headers), b(body, std::ios::binary);
    answer.headers.assign(std::istreambuf_iterator<char>(h), {});
    answer.body.assign(std::istreambuf_iterator<char>(b), {});
    return answer;
  }
  static json echo(const CurlAnswer& a) { return json::parse(a.body, nullptr, false); }

  inline static uint16_t tls_port_ = 0;
  fs::path dir_;
};

TEST_F(ProxyHttp2Test, H2cWithPriorKnowledgeAndHttp11ShareThePlainListener) {
  TestUpstream up("h2-a");
  up.start();
  route(service(up.url()), {{"paths", {"/a"}}, {"strip_path", true}});
  CurlAnswer h2 = curl("/a/orders?page=2", "-H 'X-Request-Id: h2-request-1'");
  ASSERT_EQ(h2.status, 200) << h2.error << h2.headers;
  EXPECT_EQ(h2.version, "2");
  const json seen = echo(h2);
  EXPECT_EQ(seen["upstream"], "h2-a");
  EXPECT_EQ(seen["target"], "/orders?page=2");
  EXPECT_EQ(seen["version"], "1.1");  // HTTP/1.1 to the upstream
  EXPECT_EQ(seen["headers"]["x-forwarded-proto"], "http");
  EXPECT_EQ(seen["headers"]["x-request-id"], "h2-request-1");
  EXPECT_THAT(h2.headers, HasSubstr("x-request-id: h2-request-1"));

  CurlAnswer h1 = curl("/a/orders", "", "--http1.1");
  ASSERT_EQ(h1.status, 200) << h1.error;
  EXPECT_EQ(h1.version, "1.1");
}

TEST_F(ProxyHttp2Test, H2OverTlsByAlpn) {
  TestUpstream up("h2-b");
  up.start();
  route(service(up.url()), {{"paths", {"/b"}}});
  CurlAnswer a = curl("/b/x", "", "--http2", true);
  ASSERT_EQ(a.status, 200) << a.error;
  EXPECT_EQ(a.version, "2");
  EXPECT_EQ(echo(a)["headers"]["x-forwarded-proto"], "https");
}

TEST_F(ProxyHttp2Test, RequestBodiesStreamToTheUpstreamWithAndWithoutALength) {
  TestUpstream up("h2-c");
  up.start();
  route(service(up.url()), {{"paths", {"/c"}}});
  std::string payload(3 * 1024 * 1024 + 17, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>('a' + i % 26);
  const fs::path file = dir_ / "payload";
  std::ofstream(file, std::ios::binary) << payload;

  // With content-length (curl --data-binary), and without one (-T - from a pipe: the upstream
  // gets it chunked).
  CurlAnswer sized = curl("/c/upload", "--data-binary @" + file.string());
  ASSERT_EQ(sized.status, 200) << sized.error;
  EXPECT_EQ(echo(sized)["body_bytes"], payload.size());
  EXPECT_EQ(echo(sized)["body_sha256"], sha256Hex(payload));
  EXPECT_EQ(echo(sized)["headers"]["content-length"], std::to_string(payload.size()));

  CurlAnswer streamed = curl("/c/upload", "-X POST -T - < " + file.string());
  ASSERT_EQ(streamed.status, 200) << streamed.error;
  EXPECT_EQ(echo(streamed)["body_bytes"], payload.size());
  EXPECT_EQ(echo(streamed)["body_sha256"], sha256Hex(payload));
  EXPECT_EQ(echo(streamed)["headers"]["transfer-encoding"], "chunked");
}

TEST_F(ProxyHttp2Test, LargeResponsesFlowUnderHttp2FlowControl) {
  TestUpstream up("h2-d");
  up.start();
  route(service(up.url()), {{"paths", {"/d"}}});
  for (const std::string chunked : {"0", "1"}) {
    CurlAnswer a = curl("/d/big?size=20000000&chunked=" + chunked);
    ASSERT_EQ(a.status, 200) << a.error;
    EXPECT_EQ(a.body.size(), 20'000'000U);
    EXPECT_EQ(a.body.substr(0, 16), "0123456789abcdef");
  }
}

TEST_F(ProxyHttp2Test, PoliciesAndTurnpikesOwnAnswersAreTheSameOverHttp2) {
  TestUpstream up("h2-e");
  up.start();
  const std::string svc = service(up.url());
  const std::string policy = uniqueName("h2-limit");
  create("/rate-limit-policies", {{"name", policy},
                                  {"limit", 1},
                                  {"window_s", 3600},
                                  {"algorithm", "fixed_window"},
                                  {"key_by", "route"}});
  route(svc, {{"paths", {"/keyed"}}, {"auth", {{"type", "api_key"}}}});
  route(svc, {{"paths", {"/limited"}}, {"rate_limit_policies", {policy}}});
  route(svc, {{"paths", {"/secure"}}, {"protocols", {"https"}}});

  CurlAnswer missing = curl("/nowhere");
  EXPECT_EQ(missing.status, 404);
  EXPECT_THAT(missing.headers, HasSubstr("content-type: application/problem+json"));
  EXPECT_EQ(json::parse(missing.body, nullptr, false)["detail"], "no route matches GET /nowhere");

  CurlAnswer unauthorized = curl("/keyed");
  EXPECT_EQ(unauthorized.status, 401);
  EXPECT_THAT(unauthorized.headers, HasSubstr("www-authenticate: ApiKey"));

  EXPECT_EQ(curl("/limited").status, 200);
  CurlAnswer limited = curl("/limited");
  EXPECT_EQ(limited.status, 429);
  EXPECT_THAT(limited.headers, HasSubstr("retry-after: "));
  EXPECT_THAT(limited.headers, HasSubstr("ratelimit-remaining: 0"));

  CurlAnswer redirected = curl("/secure/x?y=1");
  EXPECT_EQ(redirected.status, 308);
  EXPECT_THAT(redirected.headers, HasSubstr("location: https://" + host_ + ":" +
                                            std::to_string(tls_port_) + "/secure/x?y=1"));

  RefusingPort dead;
  route(service(dead.url()), {{"paths", {"/dead"}}});
  EXPECT_EQ(curl("/dead").status, 502);
  route(service(up.url(), {{"read_timeout_ms", 200}}), {{"paths", {"/slow"}}});
  EXPECT_EQ(curl("/slow?delay_ms=1000").status, 504);
}

TEST_F(ProxyHttp2Test, H2loadRunsCleanWithManyStreamsPerConnection) {
  TestUpstream up("h2-f");
  up.start();
  const std::string path = "/" + uniqueName("h2load");
  route(service(up.url()), {{"hosts", json::array()}, {"paths", {path}}});
  const std::string url = "http://127.0.0.1:" + std::to_string(process().proxyPort()) + path;
  // 4 connections, 100 streams in flight on each: the stream limit itself.
  const CommandResult r = runCommand("h2load -n 4000 -c 4 -m 100 " + url);
  ASSERT_EQ(r.exit_code, 0) << r.out;
  EXPECT_THAT(r.out, HasSubstr("4000 total, 4000 started, 4000 done, 4000 succeeded, 0 failed"));
  EXPECT_THAT(r.out, HasSubstr("status codes: 4000 2xx"));
  // And the gateway serves on, both protocols.
  EXPECT_EQ(curl(path).status, 200);
  EXPECT_EQ(proxy().get(path).status, 200);
}

// The frames of a connection as (type, flags) pairs, from bytes a server sent.
std::vector<std::pair<int, int>> framesIn(std::string_view bytes) {
  std::vector<std::pair<int, int>> frames;
  while (bytes.size() >= 9) {
    const std::size_t length = (static_cast<unsigned char>(bytes[0]) << 16) |
                               (static_cast<unsigned char>(bytes[1]) << 8) |
                               static_cast<unsigned char>(bytes[2]);
    frames.emplace_back(static_cast<unsigned char>(bytes[3]), static_cast<unsigned char>(bytes[4]));
    if (bytes.size() < 9 + length) break;
    bytes.remove_prefix(9 + length);
  }
  return frames;
}

constexpr int kGoaway = 7;
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::string_view kEmptySettings{"\0\0\0\x04\0\0\0\0\0", 9};

// A raw h2c connection: what the server sends until it closes (or `timeout`), and how long it
// took to close.
struct Closed {
  std::string received;
  std::chrono::milliseconds after{0};
  bool closed = false;
};
Closed sendAndWaitForClose(uint16_t port, std::string_view bytes, std::chrono::milliseconds timeout,
                           const std::function<void()>& meanwhile = {}) {
  Closed result;
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval tv{0, 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return result;
  }
  const auto started = std::chrono::steady_clock::now();
  ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
  if (meanwhile) meanwhile();
  while (std::chrono::steady_clock::now() - started < timeout) {
    std::array<char, 4096> chunk;
    const ssize_t n = ::recv(fd, chunk.data(), chunk.size(), 0);
    if (n > 0) {
      result.received.append(chunk.data(), static_cast<std::size_t>(n));
    } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
      result.closed = true;
      break;
    }
  }
  result.after = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  ::close(fd);
  return result;
}

bool hasGoaway(const std::string& received) {
  for (const auto& [type, flags] : framesIn(received)) {
    if (type == kGoaway) return true;
  }
  return false;
}

TEST(ProxyHttp2ConnectionTest, AnIdleConnectionClosesWithAGoawayAfterTheIdleTimeout) {
  TurnpikeProcess tp({.extra_args = {"--idle-timeout-ms", "500", "--access-log", "off"}});
  ASSERT_TRUE(tp.start());
  const Closed c = sendAndWaitForClose(
      tp.proxyPort(), std::string(kPreface) + std::string(kEmptySettings), std::chrono::seconds(5));
  EXPECT_TRUE(c.closed);
  EXPECT_GE(c.after.count(), 400);
  EXPECT_LT(c.after.count(), 2500);
  EXPECT_TRUE(hasGoaway(c.received));
}

TEST(ProxyHttp2ConnectionTest, GarbageAfterThePrefaceIsAConnectionErrorAndTheGatewayServesOn) {
  TurnpikeProcess tp({.extra_args = {"--access-log", "off"}});
  ASSERT_TRUE(tp.start());
  const Closed c = sendAndWaitForClose(
      tp.proxyPort(), std::string(kPreface) + std::string(64, '\x7f'), std::chrono::seconds(5));
  EXPECT_TRUE(c.closed);
  EXPECT_TRUE(hasGoaway(c.received));
  EXPECT_TRUE(tp.running());
  EXPECT_EQ(HttpClient("127.0.0.1", tp.proxyPort()).get("/none").status, 404);
}

TEST(ProxyHttp2ConnectionTest, EachStreamWritesAnAccessLogLineSayingHttp2) {
  const fs::path dir = fs::temp_directory_path() / ("turnpike-h2log-" + uniqueName("t"));
  fs::create_directories(dir);
  const std::string log = (dir / "access.log").string();
  TurnpikeProcess tp({.extra_args = {"--access-log", log}});
  ASSERT_TRUE(tp.start());
  TestUpstream up("h2-log");
  up.start();
  HttpClient admin = tp.adminClient();
  ASSERT_EQ(admin.post("/services", {{"name", "up"}, {"targets", {{{"url", up.url()}}}}}).status,
            201);
  ASSERT_EQ(admin
                .post("/routes?wait_for_proxy=true",
                      {{"name", "logged"}, {"service", "up"}, {"paths", {"/logged"}}})
                .status,
            201);
  const std::string base = "http://127.0.0.1:" + std::to_string(tp.proxyPort());
  // Two streams on one connection (nghttp; curl 7.88 cannot reuse an h2c connection, with
  // nginx either).
  const CommandResult r = runCommand("nghttp -n " + base + "/logged/a " + base + "/logged/b");
  ASSERT_EQ(r.exit_code, 0) << r.out;
  std::vector<json> lines;
  EXPECT_TRUE(eventually([&] {
    lines.clear();
    std::ifstream in(log);
    for (std::string line; std::getline(in, line);)
      lines.push_back(json::parse(line, nullptr, false));
    return lines.size() == 2;
  }));
  for (const json& line : lines) {
    EXPECT_EQ(line.value("protocol", ""), "HTTP/2");
    EXPECT_EQ(line.value("route", ""), "logged");
    EXPECT_EQ(line.value("status", 0), 200);
    EXPECT_GT(line.value("bytes", 0), 100);
  }
  fs::remove_all(dir);
}

TEST(ProxyHttp2ConnectionTest, ADrainSendsAGoawayToAnIdleConnection) {
  TurnpikeProcess tp({.extra_args = {"--access-log", "off"}});
  ASSERT_TRUE(tp.start());
  const Closed c =
      sendAndWaitForClose(tp.proxyPort(), std::string(kPreface) + std::string(kEmptySettings),
                          std::chrono::seconds(5), [&] {
                            std::this_thread::sleep_for(std::chrono::milliseconds(200));
                            tp.stop();
                          });
  EXPECT_TRUE(c.closed);
  EXPECT_TRUE(hasGoaway(c.received));
}

}  // namespace
}  // namespace turnpike::test_support
