// TestUpstream against a real client on loopback: the echo, keep-alive, pipelining, streamed
// bodies both ways, and every fault the proxy's integration tests will ask of it.
#include "tests/support/test_upstream.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

#include "tests/support/http_client.h"

namespace turnpike::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using test_support::HttpClient;
using test_support::Response;
using namespace std::chrono_literals;

constexpr std::string_view kHelloSha256 =
    "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

std::string sha256Hex(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &len, EVP_sha256(), nullptr);
  std::string out;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kDigits[md[i] >> 4]);
    out.push_back(kDigits[md[i] & 0xF]);
  }
  return out;
}

// Polls `condition` until it holds or `timeout` passes.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 3s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

// A raw connection: writes exactly the bytes given and reads responses with Beast's parser, so
// that tests can pipeline, send repeated headers and see transport errors as they are.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    socket_.connect(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    socket_.set_option(tcp::no_delay(true));
  }

  void write(std::string_view bytes) { asio::write(socket_, asio::buffer(bytes)); }

  // Reads one response (bounded by `timeout`: then asio::error::timed_out).
  beast::error_code read(http::response<http::string_body>& out, bool head_request = false,
                         std::chrono::milliseconds timeout = 10s) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(boost::none);
    parser.skip(head_request);
    beast::error_code ec =
        run(timeout, [&](auto handler) { http::async_read(socket_, buffer_, parser, handler); });
    if (!ec) out = parser.release();
    header_seen_ = parser.is_header_done();
    if (header_seen_) partial_ = parser.get();
    return ec;
  }

  // Reads and discards until the server closes: eof for a FIN, connection_reset for a RST.
  beast::error_code readUntilClosed(std::chrono::milliseconds timeout = 5s) {
    std::array<char, 4096> sink{};
    for (;;) {
      beast::error_code ec = run(timeout, [&](auto handler) {
        socket_.async_read_some(asio::buffer(sink),
                                [handler](beast::error_code e, size_t) { handler(e, 0); });
      });
      if (ec) return ec;
    }
  }

  void close() {
    beast::error_code ignored;
    socket_.close(ignored);
  }

  bool headerSeen() const { return header_seen_; }
  const http::response<http::string_body>& partial() const { return partial_; }

 private:
  template <typename Start>
  beast::error_code run(std::chrono::milliseconds timeout, Start start) {
    beast::error_code result = asio::error::timed_out;
    bool done = false;
    start([&](beast::error_code ec, size_t) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {
      beast::error_code ignored;
      socket_.cancel(ignored);
      ioc_.restart();
      ioc_.run();
      result = asio::error::timed_out;
    }
    return result;
  }

  asio::io_context ioc_;
  tcp::socket socket_{ioc_};
  beast::flat_buffer buffer_;
  bool header_seen_ = false;
  http::response<http::string_body> partial_;
};

std::string getRequest(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

class TestUpstreamTest : public ::testing::Test {
 protected:
  void SetUp() override { upstream_.start(); }

  HttpClient client() { return HttpClient("127.0.0.1", upstream_.port(), 10s); }

  TestUpstream upstream_{"users"};
};

using TestUpstreamEcho = TestUpstreamTest;
using TestUpstreamKeepAlive = TestUpstreamTest;
using TestUpstreamBody = TestUpstreamTest;
using TestUpstreamResponse = TestUpstreamTest;
using TestUpstreamFaults = TestUpstreamTest;
using TestUpstreamHealth = TestUpstreamTest;
using TestUpstreamLifecycle = TestUpstreamTest;

TEST_F(TestUpstreamEcho, EchoesMethodTargetPathQueryHeadersAndBody) {
  EXPECT_NE(upstream_.port(), 0);
  EXPECT_EQ(upstream_.url(), "http://127.0.0.1:" + std::to_string(upstream_.port()));
  HttpClient c = client();
  Response r = c.request("POST", "/a/b?x=1&y=two", "hello", {{"X-Custom", "v1"}});
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.headerOr("Content-Type"), "application/json");
  EXPECT_EQ(r.headerOr("X-Upstream"), "users");
  nlohmann::json j = r.json();
  EXPECT_EQ(j["upstream"], "users");
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["target"], "/a/b?x=1&y=two");
  EXPECT_EQ(j["path"], "/a/b");
  EXPECT_EQ(j["query"], "x=1&y=two");
  EXPECT_EQ(j["headers"]["x-custom"], "v1");
  EXPECT_EQ(j["headers"]["content-length"], "5");
  EXPECT_EQ(j["body_bytes"], 5);
  EXPECT_EQ(j["body_sha256"], kHelloSha256);
  EXPECT_EQ(j["body"], "hello");
  EXPECT_EQ(j["connection_requests"], 1);
  EXPECT_EQ(upstream_.requestsServed(), 1u);
}

TEST_F(TestUpstreamEcho, RepeatedHeadersBecomeArrays) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/r", "X-Rep: one\r\nx-rep: two\r\nX-REP: three\r\n"));
  http::response<http::string_body> res;
  ASSERT_FALSE(raw.read(res));
  nlohmann::json j = nlohmann::json::parse(res.body());
  EXPECT_EQ(j["headers"]["x-rep"], nlohmann::json::array({"one", "two", "three"}));
  EXPECT_EQ(j["headers"]["host"], "test");
}

TEST_F(TestUpstreamEcho, BinaryOrLargeBodiesAreHashedButNotEchoed) {
  HttpClient c = client();
  const std::string binary("\xff\xfe\x00\x01", 4);
  Response r = c.request("PUT", "/bin", binary, {{"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.json()["body_bytes"], 4);
  EXPECT_EQ(r.json()["body_sha256"], sha256Hex(binary));
  EXPECT_FALSE(r.json().contains("body"));

  const std::string large(200 * 1024, 'a');
  r = c.request("POST", "/large", large, {{"Content-Type", "text/plain"}});
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.json()["body_bytes"], large.size());
  EXPECT_EQ(r.json()["body_sha256"], sha256Hex(large));
  EXPECT_FALSE(r.json().contains("body"));
}

TEST_F(TestUpstreamKeepAlive, TwoRequestsShareOneConnection) {
  HttpClient c = client();
  Response first = c.get("/one");
  Response second = c.get("/two");
  ASSERT_EQ(first.status, 200) << first;
  ASSERT_EQ(second.status, 200) << second;
  EXPECT_EQ(first.json()["connection_requests"], 1);
  EXPECT_EQ(second.json()["connection_requests"], 2);
  EXPECT_FALSE(second.hasHeader("Connection")) << second;
  EXPECT_EQ(c.connectCount(), 1);
  EXPECT_EQ(upstream_.connectionsAccepted(), 1u);
  EXPECT_EQ(upstream_.openConnections(), 1u);
  EXPECT_EQ(upstream_.requestsServed(), 2u);
}

TEST_F(TestUpstreamKeepAlive, PipelinedRequestsAreAnsweredInOrder) {
  RawClient raw(upstream_.port());
  // The first one is slow: the second must still come after it.
  raw.write(getRequest("/first?delay_ms=100") + getRequest("/second"));
  http::response<http::string_body> a, b;
  ASSERT_FALSE(raw.read(a));
  ASSERT_FALSE(raw.read(b));
  nlohmann::json ja = nlohmann::json::parse(a.body());
  nlohmann::json jb = nlohmann::json::parse(b.body());
  EXPECT_EQ(ja["path"], "/first");
  EXPECT_EQ(ja["connection_requests"], 1);
  EXPECT_EQ(jb["path"], "/second");
  EXPECT_EQ(jb["connection_requests"], 2);
  EXPECT_EQ(upstream_.connectionsAccepted(), 1u);
}

TEST_F(TestUpstreamKeepAlive, ConnectionCloseRequestIsHonoured) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/bye", "Connection: close\r\n"));
  http::response<http::string_body> res;
  ASSERT_FALSE(raw.read(res));
  EXPECT_EQ(res[http::field::connection], "close");
  EXPECT_FALSE(res.keep_alive());
  EXPECT_EQ(raw.readUntilClosed(), asio::error::eof);
  raw.close();
  EXPECT_TRUE(eventually([&] { return upstream_.openConnections() == 0; }, 500ms));
}

TEST_F(TestUpstreamKeepAlive, CloseIdleConnectionsClosesAnIdleKeepAliveConnection) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/x"));
  http::response<http::string_body> res;
  ASSERT_FALSE(raw.read(res));
  EXPECT_TRUE(res.keep_alive());
  EXPECT_EQ(upstream_.closeIdleConnections(), 1);
  EXPECT_EQ(raw.readUntilClosed(), asio::error::eof);
  EXPECT_TRUE(eventually([&] { return upstream_.openConnections() == 0; }));

  // A keep-alive client finds its pooled connection stale and opens a new one.
  HttpClient c = client();
  ASSERT_EQ(c.get("/a").status, 200);
  EXPECT_EQ(upstream_.closeIdleConnections(), 1);
  Response again = c.get("/b");
  ASSERT_EQ(again.status, 200) << again;
  EXPECT_EQ(again.json()["connection_requests"], 1);
  EXPECT_EQ(c.connectCount(), 2);
  EXPECT_EQ(upstream_.connectionsAccepted(), 3u);
}

TEST_F(TestUpstreamKeepAlive, CloseIdleConnectionsLeavesBusyConnectionsAlone) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/slow?delay_ms=300"));
  ASSERT_TRUE(eventually([&] { return upstream_.requestsServed() == 1; }));
  EXPECT_EQ(upstream_.closeIdleConnections(), 0);
  http::response<http::string_body> res;
  ASSERT_FALSE(raw.read(res));
  EXPECT_EQ(res.result_int(), 200u);
}

TEST_F(TestUpstreamBody, ChunkedUploadOf5MBIsStreamedAndHashed) {
  std::string body;
  body.reserve(5'000'000);
  for (size_t i = 0; body.size() < 5'000'000; ++i) body.push_back(static_cast<char>(i * 31 % 251));
  RawClient raw(upstream_.port());
  raw.write(
      "POST /upload HTTP/1.1\r\nHost: test\r\nTransfer-Encoding: chunked\r\n"
      "Content-Type: application/octet-stream\r\n\r\n");
  // Uneven chunk sizes, written while the server reads (the socket buffers are far smaller).
  std::thread writer([&] {
    size_t offset = 0;
    size_t n = 1;
    while (offset < body.size()) {
      const size_t len = std::min(n, body.size() - offset);
      char size_line[32];
      const int k = std::snprintf(size_line, sizeof(size_line), "%zx\r\n", len);
      raw.write(std::string_view(size_line, static_cast<size_t>(k)));
      raw.write(std::string_view(body).substr(offset, len));
      raw.write("\r\n");
      offset += len;
      n = n * 3 + 7;
      if (n > 300'000) n = 1;
    }
    raw.write("0\r\n\r\n");
  });
  http::response<http::string_body> res;
  beast::error_code ec = raw.read(res, false, 30s);
  writer.join();
  ASSERT_FALSE(ec) << ec.message();
  nlohmann::json j = nlohmann::json::parse(res.body());
  EXPECT_EQ(j["headers"]["transfer-encoding"], "chunked");
  EXPECT_EQ(j["body_bytes"], 5'000'000);
  EXPECT_EQ(j["body_sha256"], sha256Hex(body));
  EXPECT_FALSE(j.contains("body"));
}

TEST_F(TestUpstreamBody, ExpectContinueGetsA100First) {
  RawClient raw(upstream_.port());
  raw.write("POST /e HTTP/1.1\r\nHost: test\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  http::response<http::string_body> interim, final_response;
  ASSERT_FALSE(raw.read(interim));
  EXPECT_EQ(interim.result_int(), 100u);
  raw.write("hello");
  ASSERT_FALSE(raw.read(final_response));
  EXPECT_EQ(final_response.result_int(), 200u);
  EXPECT_EQ(nlohmann::json::parse(final_response.body())["body_sha256"], kHelloSha256);
}

TEST_F(TestUpstreamResponse, SizeReturnsExactlyThatManyPatternBytes) {
  HttpClient c = client();
  for (const char* extra : {"", "&chunked=1"}) {
    SCOPED_TRACE(extra);
    Response r = c.get(std::string("/blob?size=3000000") + extra);
    ASSERT_EQ(r.status, 200) << r.error;
    EXPECT_EQ(r.headerOr("Content-Type"), "application/octet-stream");
    if (*extra) {
      EXPECT_EQ(r.headerOr("Transfer-Encoding"), "chunked");
      EXPECT_FALSE(r.hasHeader("Content-Length"));
    } else {
      EXPECT_EQ(r.headerOr("Content-Length"), "3000000");
    }
    ASSERT_EQ(r.body.size(), 3'000'000u);
    const std::string_view unit = "0123456789abcdef";
    size_t mismatches = 0;
    for (size_t i = 0; i < r.body.size(); ++i) mismatches += r.body[i] != unit[i % 16];
    EXPECT_EQ(mismatches, 0u);
  }
  Response empty = c.get("/blob?size=0&chunked=1");
  ASSERT_EQ(empty.status, 200) << empty;
  EXPECT_EQ(empty.body, "");
  EXPECT_EQ(c.connectCount(), 1);
}

TEST_F(TestUpstreamResponse, StatusDelayAndExtraHeaders) {
  HttpClient c = client();
  const auto start = std::chrono::steady_clock::now();
  Response r = c.get(
      "/s?status=418&delay_ms=200&header.X-Test=yes&header.X-Two=a%20b&"
      "header.Content-Type=text%2Fplain");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_EQ(r.status, 418) << r;
  EXPECT_GE(elapsed, 200ms);
  EXPECT_EQ(r.headerOr("X-Test"), "yes");
  EXPECT_EQ(r.headerOr("X-Two"), "a b");
  EXPECT_EQ(r.headerOr("Content-Type"), "text/plain");
  EXPECT_EQ(r.json()["path"], "/s");

  Response no_content = c.get("/s?status=204");
  EXPECT_EQ(no_content.status, 204) << no_content;
  EXPECT_EQ(no_content.body, "");
  EXPECT_EQ(c.get("/s?status=503").status, 503);
  EXPECT_EQ(c.connectCount(), 1);
}

TEST_F(TestUpstreamResponse, ChunkedEchoAndTrickle) {
  HttpClient c = client();
  Response chunked = c.get("/c?chunked=1");
  ASSERT_EQ(chunked.status, 200) << chunked;
  EXPECT_EQ(chunked.headerOr("Transfer-Encoding"), "chunked");
  EXPECT_EQ(chunked.json()["path"], "/c");

  const auto start = std::chrono::steady_clock::now();
  Response slow = c.get("/t?size=5&trickle_ms=30&chunked=1");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 150ms);
  ASSERT_EQ(slow.status, 200) << slow;
  EXPECT_EQ(slow.body, "01234");
}

TEST_F(TestUpstreamResponse, HeadKeepsContentLengthWithoutBody) {
  RawClient raw(upstream_.port());
  raw.write("HEAD /h?size=1234 HTTP/1.1\r\nHost: test\r\n\r\n" + getRequest("/after"));
  http::response<http::string_body> head, after;
  ASSERT_FALSE(raw.read(head, /*head_request=*/true));
  EXPECT_EQ(head[http::field::content_length], "1234");
  EXPECT_EQ(head.body(), "");
  ASSERT_FALSE(raw.read(after));
  EXPECT_EQ(nlohmann::json::parse(after.body())["path"], "/after");
}

TEST_F(TestUpstreamFaults, CloseParameterClosesAfterTheAnswer) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/c?close=1"));
  http::response<http::string_body> res;
  ASSERT_FALSE(raw.read(res));
  EXPECT_EQ(res[http::field::connection], "close");
  EXPECT_EQ(raw.readUntilClosed(), asio::error::eof);
}

TEST_F(TestUpstreamFaults, ResetHeadersGivesAReadError) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/r?reset=headers"));
  http::response<http::string_body> res;
  EXPECT_EQ(raw.read(res), asio::error::connection_reset);
  EXPECT_FALSE(raw.headerSeen());

  HttpClient c = client();
  Response r = c.get("/r?reset=headers");
  EXPECT_EQ(r.status, 0);
  EXPECT_FALSE(r.error.empty());
}

TEST_F(TestUpstreamFaults, ResetBodyCutsTheBodyShort) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/r?reset=body&size=100000"));
  http::response<http::string_body> res;
  beast::error_code ec = raw.read(res);
  EXPECT_TRUE(ec == asio::error::connection_reset || ec == http::error::partial_message)
      << ec.message();
  ASSERT_TRUE(raw.headerSeen());
  EXPECT_EQ(raw.partial()[http::field::content_length], "100000");

  // Even a 1-byte body: the headers go out, then the RST.
  RawClient tiny(upstream_.port());
  tiny.write(getRequest("/r?reset=body&size=1"));
  EXPECT_TRUE(tiny.read(res));
  EXPECT_TRUE(tiny.headerSeen());
}

TEST_F(TestUpstreamFaults, GarbageGivesAParseError) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/g?garbage=1"));
  http::response<http::string_body> res;
  beast::error_code ec = raw.read(res);
  ASSERT_TRUE(ec);
  EXPECT_EQ(&ec.category(), &http::make_error_code(http::error::bad_version).category())
      << ec.message();
}

TEST_F(TestUpstreamFaults, BadChunkGivesAParseError) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/b?bad_chunk=1"));
  http::response<http::string_body> res;
  EXPECT_EQ(raw.read(res), http::error::bad_chunk);
  EXPECT_TRUE(raw.headerSeen());
}

TEST_F(TestUpstreamFaults, HangNeverAnswersUntilStop) {
  RawClient raw(upstream_.port());
  raw.write(getRequest("/h?hang=1"));
  http::response<http::string_body> res;
  EXPECT_EQ(raw.read(res, false, 300ms), asio::error::timed_out);
  EXPECT_EQ(upstream_.openConnections(), 1u);
  EXPECT_EQ(upstream_.closeIdleConnections(), 0);
  upstream_.stop();
  EXPECT_EQ(raw.readUntilClosed(), asio::error::eof);
  EXPECT_EQ(upstream_.openConnections(), 0u);
}

TEST_F(TestUpstreamFaults, MalformedRequestGets400AndClose) {
  RawClient raw(upstream_.port());
  raw.write("NOT HTTP AT ALL\r\n\r\n");
  http::response<http::string_body> res;
  ASSERT_FALSE(raw.read(res));
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(raw.readUntilClosed(), asio::error::eof);
}

TEST_F(TestUpstreamHealth, HealthzFollowsSetHealthy) {
  HttpClient c = client();
  Response ok = c.get("/healthz");
  ASSERT_EQ(ok.status, 200) << ok;
  EXPECT_EQ(ok.json(), nlohmann::json({{"ok", true}}));
  upstream_.setHealthy(false);
  EXPECT_FALSE(upstream_.healthy());
  Response down = c.get("/healthz");
  EXPECT_EQ(down.status, 503) << down;
  EXPECT_EQ(c.get("/other").status, 200);
  EXPECT_EQ(upstream_.healthChecks(), 2u);
  EXPECT_EQ(upstream_.requestsServed(), 1u);
}

TEST_F(TestUpstreamLifecycle, StopClosesEverythingAndStartComesBackOnTheSamePort) {
  HttpClient c = client();
  ASSERT_EQ(c.get("/").status, 200);
  const uint16_t port = upstream_.port();
  upstream_.stop();
  EXPECT_FALSE(upstream_.running());
  EXPECT_EQ(upstream_.openConnections(), 0u);
  Response down = c.get("/");
  EXPECT_EQ(down.status, 0);

  upstream_.start(port);
  EXPECT_EQ(upstream_.port(), port);
  Response up = c.get("/");
  ASSERT_EQ(up.status, 200) << up;
  EXPECT_EQ(upstream_.connectionsAccepted(), 2u);
}

TEST(TestUpstreamConcurrency, ManyClientsOnSeveralThreads) {
  TestUpstream upstream("multi", 2);
  upstream.start();
  std::vector<std::thread> clients;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    clients.emplace_back([&] {
      HttpClient c("127.0.0.1", upstream.port());
      for (int i = 0; i < 50; ++i) {
        if (c.get("/p?size=1000").status == 200) ok.fetch_add(1);
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 400);
  EXPECT_EQ(upstream.connectionsAccepted(), 8u);
  EXPECT_EQ(upstream.requestsServed(), 400u);
}

}  // namespace
}  // namespace turnpike::test
