// Bodies and the client side of the wire, through the real binary: 100 MB uploads (chunked and
// Content-Length) and downloads streamed through the proxy without growing its memory, pipelined
// requests, `Expect: 100-continue`, and the limits a client meets (431, 413, 400 for a request
// smuggling attempt) — each answered by Turnpike itself without bothering the upstream.
//
// Requests are written byte for byte on raw sockets (RawConnection) where the exact wire matters.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using test::TestUpstream;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kBigBody = 100ull * 1024 * 1024;
constexpr uint64_t kMaxRssGrowthKb = 64 * 1024;

// A blocking loopback TCP connection for byte-exact requests. Every read waits at most 200 ms at
// a time and gives up at its deadline; failures show up as short or empty results.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "cannot connect to 127.0.0.1:" << port;
      return;
    }
    timeval tv{.tv_sec = 0, .tv_usec = 200'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  // Writes all of `bytes`; false when the peer is gone.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Appends what arrives to `out` until `done(out)`, the peer closes, or `timeout` passes.
  template <class Done>
  void readInto(std::string& out, Done done, milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    char buffer[64 * 1024];
    while (!done(out) && Clock::now() < deadline) {
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) return;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return;
      }
      out.append(buffer, static_cast<size_t>(n));
    }
  }
  // Everything until the peer closes (bounded by `timeout`).
  std::string readAll(milliseconds timeout = std::chrono::seconds(5)) {
    std::string out;
    readInto(
        out, [](const std::string&) { return false; }, timeout);
    return out;
  }
  // Until `marker` has arrived (and whatever came with it).
  std::string readUntil(std::string_view marker, milliseconds timeout = std::chrono::seconds(5)) {
    std::string out;
    readInto(
        out, [&](const std::string& s) { return s.find(marker) != std::string::npos; }, timeout);
    return out;
  }
  // Reads a response's headers, then streams its Content-Length body through `sink` without
  // keeping it. Returns the headers ("" when they did not arrive).
  template <class Sink>
  std::string readStreamed(Sink sink, milliseconds timeout) {
    std::string head = readUntil("\r\n\r\n", timeout);
    const size_t end = head.find("\r\n\r\n");
    if (end == std::string::npos) return "";
    sink(std::string_view(head).substr(end + 4));
    head.resize(end + 4);
    const auto deadline = Clock::now() + timeout;
    char buffer[64 * 1024];
    while (Clock::now() < deadline) {
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n == 0) break;
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        break;
      }
      sink(std::string_view(buffer, static_cast<size_t>(n)));
    }
    return head;
  }

 private:
  int fd_;
};

// SHA-256 over pieces, as lower-case hex.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void update(std::string_view piece) { EVP_DigestUpdate(ctx_, piece.data(), piece.size()); }
  std::string hex() {
    unsigned char digest[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_DigestFinal_ex(ctx_, digest, &len);
    std::string out;
    char byte[3];
    for (unsigned int i = 0; i < len; ++i) {
      std::snprintf(byte, sizeof byte, "%02x", digest[i]);
      out += byte;
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// One MiB of the upload payload: every byte depends on its position within the MiB.
std::string uploadBlock() {
  std::string block(1024 * 1024, '\0');
  for (size_t i = 0; i < block.size(); ++i)
    block[i] = static_cast<char>('a' + (i * 7 + i / 4096) % 26);
  return block;
}

// The SHA-256 of TestUpstream's `size=N` body ("0123456789abcdef" repeated), N a multiple of 16.
std::string patternSha(uint64_t size) {
  std::string block;
  while (block.size() < 1024 * 1024) block += "0123456789abcdef";
  Sha256 sha;
  for (uint64_t done = 0; done < size; done += block.size()) {
    sha.update(std::string_view(block).substr(0, std::min<uint64_t>(block.size(), size - done)));
  }
  return sha.hex();
}

// The JSON body of a raw response that starts at `from` and has a Content-Length body (a
// discarded value when there is none).
json rawBodyJson(const std::string& wire, size_t from = 0) {
  const size_t end = from == std::string::npos ? from : wire.find("\r\n\r\n", from);
  if (end == std::string::npos) return json::value_t::discarded;
  return json::parse(wire.substr(end + 4), nullptr, /*allow_exceptions=*/false);
}

// VmRSS of `pid` in KiB (0 when unreadable).
uint64_t rssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

// Samples a process's VmRSS every 10 ms on its own thread and keeps the highest value.
class RssPeak {
 public:
  explicit RssPeak(pid_t pid) : pid_(pid), peak_(rssKb(pid)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        uint64_t now = rssKb(pid_);
        if (now > peak_) peak_ = now;
        std::this_thread::sleep_for(milliseconds(10));
      }
    });
  }
  ~RssPeak() {
    stop_ = true;
    thread_.join();
  }
  RssPeak(const RssPeak&) = delete;
  RssPeak& operator=(const RssPeak&) = delete;
  uint64_t peakKb() const { return peak_; }

 private:
  pid_t pid_;
  std::atomic<uint64_t> peak_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class ProxyStreamingTest : public ProxySuiteTest {
 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    upstream_.start();
  }

  // Routes every request for host_ on `tp` to upstream_ (paths as received); waits for the proxy.
  void serveUpstream(TurnpikeProcess& tp) {
    HttpClient admin = tp.adminClient();
    const std::string name = uniqueName("svc");
    Response service =
        admin.post("/services", {{"name", name},
                                 {"targets", {{{"url", upstream_.url()}, {"weight", 100}}}},
                                 {"read_timeout_ms", 30000}});
    ASSERT_EQ(service.status, 201) << service;
    Response route = admin.post("/routes?wait_for_proxy=true", {{"name", uniqueName("route")},
                                                                {"service", name},
                                                                {"hosts", {host_}},
                                                                {"strip_path", false}});
    ASSERT_EQ(route.status, 201) << route;
  }

  uint16_t proxyPort() const { return process().proxyPort(); }

  TestUpstream upstream_{"stream"};
};

TEST_F(ProxyStreamingTest, HundredMegabyteBodiesStreamBothWaysInBoundedMemory) {
  serveUpstream(process());
  HttpClient warm("127.0.0.1", proxyPort());
  warm.setDefaultHeader("Host", host_);
  ASSERT_EQ(warm.get("/warm-up").status, 200);  // buffers and pools exist before the baseline
  const pid_t pid = process().pid();
  const uint64_t start_kb = rssKb(pid);
  ASSERT_GT(start_kb, 0U);
  RssPeak rss(pid);

  const std::string block = uploadBlock();
  Sha256 expected_upload;
  for (uint64_t sent = 0; sent < kBigBody; sent += block.size()) expected_upload.update(block);
  const std::string upload_sha = expected_upload.hex();

  {  // Content-Length upload.
    RawConnection conn(proxyPort());
    ASSERT_TRUE(conn.send("POST /upload HTTP/1.1\r\nHost: " + host_ +
                          "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                          std::to_string(kBigBody) + "\r\nConnection: close\r\n\r\n"));
    for (uint64_t sent = 0; sent < kBigBody; sent += block.size()) {
      ASSERT_TRUE(conn.send(block)) << "the proxy stopped reading after " << sent << " bytes";
    }
    std::string answer = conn.readAll(std::chrono::seconds(30));
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0U) << answer.substr(0, 2000);
    json echo = rawBodyJson(answer);
    ASSERT_TRUE(echo.is_object()) << answer.substr(0, 2000);
    EXPECT_EQ(echo.value("body_bytes", uint64_t{0}), kBigBody);
    EXPECT_EQ(echo.value("body_sha256", ""), upload_sha);
  }
  {  // Chunked upload, 1 MiB chunks.
    RawConnection conn(proxyPort());
    ASSERT_TRUE(conn.send("POST /upload HTTP/1.1\r\nHost: " + host_ +
                          "\r\nContent-Type: application/octet-stream\r\n"
                          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
    for (uint64_t sent = 0; sent < kBigBody; sent += block.size()) {
      ASSERT_TRUE(conn.send("100000\r\n") && conn.send(block) && conn.send("\r\n"))
          << "the proxy stopped reading after " << sent << " bytes";
    }
    ASSERT_TRUE(conn.send("0\r\n\r\n"));
    std::string answer = conn.readAll(std::chrono::seconds(30));
    EXPECT_EQ(answer.rfind("HTTP/1.1 200 ", 0), 0U) << answer.substr(0, 2000);
    json echo = rawBodyJson(answer);
    ASSERT_TRUE(echo.is_object()) << answer.substr(0, 2000);
    EXPECT_EQ(echo.value("body_bytes", uint64_t{0}), kBigBody);
    EXPECT_EQ(echo.value("body_sha256", ""), upload_sha);
  }
  {  // Download, hashed as it arrives.
    RawConnection conn(proxyPort());
    ASSERT_TRUE(conn.send("GET /download?size=" + std::to_string(kBigBody) +
                          " HTTP/1.1\r\nHost: " + host_ + "\r\nConnection: close\r\n\r\n"));
    Sha256 got;
    uint64_t bytes = 0;
    std::string head = conn.readStreamed(
        [&](std::string_view piece) {
          bytes += piece.size();
          got.update(piece);
        },
        std::chrono::seconds(30));
    EXPECT_EQ(head.rfind("HTTP/1.1 200 ", 0), 0U) << head;
    EXPECT_NE(head.find("Content-Length: " + std::to_string(kBigBody)), std::string::npos) << head;
    EXPECT_EQ(bytes, kBigBody);
    EXPECT_EQ(got.hex(), patternSha(kBigBody));
  }
  // A chunked download (smaller: the client keeps it) arrives whole as well.
  Response chunked = warm.get("/download?size=4000000&chunked=1");
  ASSERT_EQ(chunked.status, 200) << chunked.error;
  EXPECT_EQ(chunked.body.size(), 4000000U);
  EXPECT_EQ(chunked.body.substr(0, 32), "0123456789abcdef0123456789abcdef");

  EXPECT_LT(rss.peakKb(), start_kb + kMaxRssGrowthKb)
      << "the proxy's RSS grew from " << start_kb << " KiB to " << rss.peakKb()
      << " KiB while 300 MB went through it";
}

TEST_F(ProxyStreamingTest, PipelinedRequestsAreAnsweredInOrder) {
  serveUpstream(process());
  RawConnection conn(proxyPort());
  ASSERT_TRUE(conn.send("GET /first?delay_ms=200 HTTP/1.1\r\nHost: " + host_ +
                        "\r\n\r\n"
                        "GET /second HTTP/1.1\r\nHost: " +
                        host_ + "\r\n\r\nGET /third HTTP/1.1\r\nHost: " + host_ +
                        "\r\nConnection: close\r\n\r\n"));
  std::string out = conn.readAll();
  const size_t first = out.find("\"path\":\"/first\"");
  const size_t second = out.find("\"path\":\"/second\"");
  const size_t third = out.find("\"path\":\"/third\"");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  ASSERT_NE(third, std::string::npos) << out;
  EXPECT_LT(first, second) << "the slow first answer still comes first";
  EXPECT_LT(second, third);
  EXPECT_EQ(upstream_.requestsServed(), 3U);
}

// The data of a chunked body ("1\r\na\r\n...0\r\n\r\n"); what follows a malformed size is
// dropped, which the caller's comparison then shows.
std::string decodeChunked(std::string_view wire) {
  std::string data;
  for (;;) {
    const size_t line_end = wire.find("\r\n");
    if (line_end == std::string_view::npos) return data;
    size_t size = 0;
    auto [end, ec] = std::from_chars(wire.data(), wire.data() + line_end, size, 16);
    if (ec != std::errc() || size == 0 || wire.size() < line_end + 2 + size) return data;
    data.append(wire.substr(line_end + 2, size));
    wire.remove_prefix(std::min(wire.size(), line_end + 2 + size + 2));
  }
}

TEST_F(ProxyStreamingTest, ABodyTrickleReachesTheClientAsItArrives) {
  // Server-sent events and long polls: what the upstream sent is passed on at once, not held
  // until a relay buffer fills or the body ends. The upstream sends 8 bytes, one every 300 ms.
  serveUpstream(process());
  for (const char* framing : {"", "&chunked=1"}) {
    SCOPED_TRACE(framing);
    RawConnection conn(proxyPort());
    const auto sent = Clock::now();
    ASSERT_TRUE(conn.send(std::string("GET /events?size=8&trickle_ms=300") + framing +
                          " HTTP/1.1\r\nHost: " + host_ + "\r\nConnection: close\r\n\r\n"));
    std::string out = conn.readUntil("\r\n\r\n", std::chrono::seconds(3));
    const size_t head_end = out.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << out;
    // The first body byte ("0", in a chunk of its own when chunked) long before the last one
    // is sent.
    conn.readInto(
        out, [&](const std::string& text) { return text.find('0', head_end + 4) != text.npos; },
        std::chrono::seconds(3));
    EXPECT_LT(Clock::now() - sent, milliseconds(1500)) << out;
    out += conn.readAll();
    std::string body = out.substr(head_end + 4);
    if (*framing != '\0') body = decodeChunked(body);
    EXPECT_EQ(body, "01234567") << out;  // ... and the rest, in order
    EXPECT_GE(Clock::now() - sent, milliseconds(2000)) << "the upstream really trickled";
  }
}

TEST_F(ProxyStreamingTest, ExpectContinueGetsAHundredContinueBeforeTheBody) {
  serveUpstream(process());
  RawConnection conn(proxyPort());
  ASSERT_TRUE(conn.send("POST /upload HTTP/1.1\r\nHost: " + host_ +
                        "\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                        "Connection: close\r\n\r\n"));
  std::string interim = conn.readUntil("\r\n\r\n", std::chrono::seconds(3));
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0U) << interim;
  ASSERT_TRUE(conn.send("hello"));
  std::string rest = interim + conn.readAll();
  json echo = rawBodyJson(rest, rest.find("HTTP/1.1 200 "));
  ASSERT_TRUE(echo.is_object()) << rest;
  EXPECT_EQ(echo.value("body", ""), "hello");
  EXPECT_FALSE(echo["headers"].contains("expect")) << "the proxy answered the Expect itself";
}

TEST_F(ProxyStreamingTest, HugeHeadersGet431) {
  serveUpstream(process());
  RawConnection conn(proxyPort());
  conn.send("GET / HTTP/1.1\r\nHost: " + host_ + "\r\nX-Big: " + std::string(40000, 'a') +
            "\r\n\r\n");
  std::string out = conn.readAll();
  EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0U) << out.substr(0, 500);
  EXPECT_NE(out.find("application/problem+json"), std::string::npos) << out.substr(0, 500);
  EXPECT_NE(out.find("X-Request-Id: "), std::string::npos) << out.substr(0, 500);
  EXPECT_EQ(upstream_.requestsServed(), 0U);
  // Headers of a normal size pass.
  HttpClient c("127.0.0.1", proxyPort());
  EXPECT_EQ(c.get("/", {{"Host", host_}, {"X-Fine", std::string(8000, 'a')}}).status, 200);
}

TEST_F(ProxyStreamingTest, BodiesOverMaxBodyBytesGet413) {
  TurnpikeProcess small(ProcessOptions{
      .extra_args = {"--workers", "1", "--access-log", "off", "--max-body-bytes", "1000"}});
  ASSERT_TRUE(small.start());
  serveUpstream(small);

  HttpClient c("127.0.0.1", small.proxyPort());
  c.setDefaultHeader("Host", host_);
  Response declared = c.request("POST", "/", std::string(2000, 'x'),
                                {{"Content-Type", "application/octet-stream"}});
  EXPECT_TRUE(isProblem(declared, 413));
  EXPECT_FALSE(declared.headerOr("X-Request-Id").empty()) << declared;

  RawConnection chunked(small.proxyPort());
  chunked.send("POST / HTTP/1.1\r\nHost: " + host_ +
               "\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" + std::string(2000, 'b') +
               "\r\n0\r\n\r\n");
  std::string out = chunked.readAll();
  EXPECT_EQ(out.rfind("HTTP/1.1 413 ", 0), 0U) << out.substr(0, 500);
  EXPECT_EQ(upstream_.requestsServed(), 0U) << "no oversized request reached the upstream";

  HttpClient fine("127.0.0.1", small.proxyPort());
  fine.setDefaultHeader("Host", host_);
  Response ok = fine.request("POST", "/", std::string(1000, 'x'),
                             {{"Content-Type", "application/octet-stream"}});
  EXPECT_EQ(ok.status, 200) << ok;
  EXPECT_EQ(ok.json().value("body_bytes", 0), 1000);
}

TEST_F(ProxyStreamingTest, MalformedRequestsAre400AndNothingReachesTheUpstream) {
  // RFC 9112 and 9110: what a proxy must refuse rather than guess at. Each on its own connection,
  // each followed by a request that must not be smuggled through.
  serveUpstream(process());
  const std::string host = "Host: " + host_ + "\r\n";
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\n" + host + "\r\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"request line with a fourth part", "GET /x HTTP/1.1 extra\r\n" + host + "\r\n"},
      {"unknown protocol", "GET /x HTTX/1.1\r\n" + host + "\r\n"},
      {"space in a field name", "GET /x HTTP/1.1\r\n" + host + "Bad Name: v\r\n\r\n"},
      {"space before the colon", "GET /x HTTP/1.1\r\n" + host + "X-A : v\r\n\r\n"},
      {"non-token byte in a field name", "GET /x HTTP/1.1\r\n" + host + "X@Y: v\r\n\r\n"},
      {"control byte in a value", "GET /x HTTP/1.1\r\n" + host + "X-A: a\x01b\r\n\r\n"},
      {"NUL in a value", "GET /x HTTP/1.1\r\n" + host + std::string("X-A: a\0b\r\n\r\n", 13)},
      {"bare LF line ending in the middle",
       "GET /x HTTP/1.1\r\n" + host + "X-A: a\nX-B: b\r\n\r\n"},
      {"two different Content-Lengths",
       "POST /x HTTP/1.1\r\n" + host + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"},
      {"Content-Length not a number",
       "POST /x HTTP/1.1\r\n" + host + "Content-Length: 1x\r\n\r\na"},
      {"negative Content-Length", "POST /x HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n"},
      {"bad chunk size",
       "POST /x HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"},
      {"chunked not the final encoding",
       "POST /x HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"},
  };
  for (const auto& [what, request] : cases) {
    RawConnection conn(proxyPort());
    conn.send(request + smuggled);
    std::string out = conn.readAll();
    EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0U) << what << ":\n" << out;
    EXPECT_EQ(out.find("/smuggled"), std::string::npos) << what << ":\n" << out;
  }
  EXPECT_EQ(upstream_.requestsServed(), 0U) << "no malformed request reached the upstream";
  HttpClient c("127.0.0.1", proxyPort());
  EXPECT_EQ(c.get("/", {{"Host", host_}}).status, 200) << "and the proxy serves on";
}

TEST_F(ProxyStreamingTest, SmugglingAttemptIs400AndNothingReachesTheUpstream) {
  serveUpstream(process());
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: " + host_ + "\r\n\r\n";
  for (const std::string& framing :
       {std::string("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n"),
        std::string("Transfer-Encoding: chunked\r\nContent-Length: 4\r\n")}) {
    RawConnection conn(proxyPort());
    conn.send("POST / HTTP/1.1\r\nHost: " + host_ + "\r\n" + framing + "\r\n0\r\n\r\n" + smuggled);
    std::string out = conn.readAll();
    EXPECT_EQ(out.rfind("HTTP/1.1 400 ", 0), 0U) << framing << out;
    EXPECT_EQ(out.find("/smuggled"), std::string::npos) << framing << out;
    EXPECT_NE(out.find("application/problem+json"), std::string::npos) << out;
  }
  EXPECT_EQ(upstream_.requestsServed(), 0U) << "neither request reached the upstream";
  HttpClient c("127.0.0.1", proxyPort());
  EXPECT_EQ(c.get("/", {{"Host", host_}}).status, 200) << "and the proxy serves on";
}

}  // namespace
}  // namespace turnpike::test_support
