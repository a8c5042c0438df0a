// Hostile and broken clients, through the real binary: slowloris headers, slow and stalled
// bodies, half-closed sockets, ten thousand header fields, thousands of idle connections, and a
// client that vanishes in the middle of a large response. For each, what the client sees, that
// nothing half-made reaches the upstream, and that afterwards the process is alive with its
// open descriptors and memory back near where they were (tests/support/process_stats.h).
//
// Malformed requests, smuggling, 413 and oversized headers are covered in
// proxy_streaming_test.cc; this suite is about time, connection state and numbers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process_stats.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;
using test::TestUpstream;
using Clock = std::chrono::steady_clock;

// The default of --header-timeout-ms: the slowloris test holds the gateway to it as shipped
// (ClientLimitsAndTimeoutsComeFromTheCommandLine checks that the option changes it).
constexpr milliseconds kHeaderTimeout{10'000};
constexpr int kFdSlack = 3;
constexpr uint64_t kRssSlack = 8 * kMiB;

// A loopback TCP connection driven byte by byte. Reads poll in 50 ms steps and stop at the
// peer's close (or reset), which they report.
class RawConnection {
 public:
  explicit RawConnection(uint16_t port, bool quiet = false)
      : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      if (!quiet) ADD_FAILURE() << "cannot connect to 127.0.0.1:" << port << ": " << errno;
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      return;
    }
    timeval tv{.tv_sec = 0, .tv_usec = 50'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  ~RawConnection() { close(); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool connected() const { return fd_ >= 0; }
  // Writes all of `bytes`; false when the peer is gone.
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void shutdownWrite() { ::shutdown(fd_, SHUT_WR); }
  // Closes; `reset`: with SO_LINGER 0, so the peer gets a RST instead of a FIN.
  void close(bool reset = false) {
    if (fd_ < 0) return;
    if (reset) {
      linger l{.l_onoff = 1, .l_linger = 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
    ::close(fd_);
    fd_ = -1;
  }

  // Appends to `out` what arrives within `timeout` (or until `enough` bytes); true when the
  // peer closed the connection.
  bool read(std::string& out, milliseconds timeout, size_t enough = SIZE_MAX) {
    const auto deadline = Clock::now() + timeout;
    char buffer[64 * 1024];
    while (out.size() < enough && Clock::now() < deadline) {
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        out.append(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
        return true;
      }
    }
    return false;
  }

 private:
  int fd_;
};

// Process health before and after a hostile client: descriptors and memory back near the
// baseline, the process alive.
class ResourceBaseline {
 public:
  explicit ResourceBaseline(pid_t pid)
      : pid_(pid), fds_(settledFdCount(pid)), rss_(rssBytes(pid)) {}

  int fds() const { return fds_; }
  void expectRestored(uint64_t rss_slack = kRssSlack) const {
    EXPECT_TRUE(processAlive(pid_)) << "the proxy died";
    EXPECT_TRUE(fdCountSettles(pid_, fds_ + kFdSlack)) << "baseline " << fds_;
    if (!kRssReflectsFrees) return;
    const uint64_t rss = rssBytes(pid_);
    EXPECT_LT(rss, rss_ + rss_slack)
        << "VmRSS grew from " << rss_ / 1024 << " KiB to " << rss / 1024 << " KiB";
  }

 private:
  pid_t pid_;
  int fds_;
  uint64_t rss_;
};

class ProxyClientFaultsTest : public ProxySuiteTest {
 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    upstream_.start();
    route(service(upstream_.url(), {{"read_timeout_ms", 30000}}), {{"strip_path", false}});
    // The first requests grow buffers and pools; the baselines come after.
    HttpClient warm = proxy();
    ASSERT_EQ(warm.get("/warm-up").status, 200);
    ASSERT_EQ(warm.post("/warm-up", json{{"a", 1}}).status, 200);
  }

  uint16_t port() { return process().proxyPort(); }
  pid_t pid() { return process().pid(); }
  std::string hostLine() { return "Host: " + host_ + "\r\n"; }

  // A normal request is answered promptly.
  void expectServedPromptly() {
    const auto started = Clock::now();
    Response r = proxy().get("/normal");
    EXPECT_EQ(servedBy(r), "up") << r;
    EXPECT_LT(Clock::now() - started, seconds(3)) << "a normal request waited";
  }

  TestUpstream upstream_{"up"};
};

TEST_F(ProxyClientFaultsTest, SlowlorisHeadersGet408AtTheHeaderTimeout) {
  // Headers trickled one byte every 200 ms and never finished: the header timeout (10 s from
  // the first byte, whatever keeps arriving) answers 408 and closes. Several at once, so that a
  // worker busy with them would show in the normal request made meanwhile.
  constexpr int kSlowClients = 4;
  const ResourceBaseline baseline(pid());
  const uint64_t served = upstream_.requestsServed();
  const std::string endless =
      "GET /slowloris HTTP/1.1\r\n" + hostLine() + "X-Slow: " + std::string(4096, 'a');
  struct Outcome {
    std::string received;
    bool closed = false;
    milliseconds took{0};
  };
  std::vector<Outcome> outcomes(kSlowClients);
  std::vector<std::thread> clients;
  for (int i = 0; i < kSlowClients; ++i) {
    clients.emplace_back([&, i] {
      RawConnection conn(port());
      const auto started = Clock::now();
      for (size_t sent = 0; sent < endless.size() && Clock::now() - started < seconds(30); ++sent) {
        conn.send(endless.substr(sent, 1));  // fails once the proxy closed: then read the rest
        if (conn.read(outcomes[i].received, milliseconds(200))) {
          outcomes[i].closed = true;
          break;
        }
      }
      outcomes[i].took = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    });
  }
  std::this_thread::sleep_for(seconds(2));
  expectServedPromptly();
  for (std::thread& t : clients) t.join();
  for (const Outcome& o : outcomes) {
    EXPECT_TRUE(o.closed) << "still open after " << o.took.count() << " ms";
    EXPECT_EQ(o.received.rfind("HTTP/1.1 408 ", 0), 0U) << o.received;
    EXPECT_NE(o.received.find("application/problem+json"), std::string::npos) << o.received;
    EXPECT_GE(o.took, kHeaderTimeout - milliseconds(500));
    EXPECT_LT(o.took, kHeaderTimeout + seconds(5));
  }
  EXPECT_EQ(upstream_.requestsServed(), served + 1) << "only the normal request";
  expectServedPromptly();
  baseline.expectRestored();
}

TEST_F(ProxyClientFaultsTest, ClientLimitsAndTimeoutsComeFromTheCommandLine) {
  // A gateway of its own with short client timeouts and a small header limit.
  TurnpikeProcess tight(ProcessOptions{
      .extra_args = {"--workers", "1", "--access-log", "off", "--header-timeout-ms", "600",
                     "--idle-timeout-ms", "800", "--max-header-bytes", "2048"}});
  ASSERT_TRUE(tight.start());
  const std::string host = "Host: " + host_ + "\r\n";

  {  // headers that never end: 408 after 0.6 s, not the default 10 s
    RawConnection conn(tight.proxyPort());
    const auto started = Clock::now();
    ASSERT_TRUE(conn.send("GET / HTTP/1.1\r\n" + host + "X-Slow: a"));
    std::string out;
    EXPECT_TRUE(conn.read(out, seconds(5))) << "still open after 5 s";
    const auto took = Clock::now() - started;
    EXPECT_EQ(out.rfind("HTTP/1.1 408 ", 0), 0U) << out;
    EXPECT_GE(took, milliseconds(500));
    EXPECT_LT(took, seconds(3));
  }
  {  // a connection that sends nothing: closed silently after 0.8 s, not the default 60 s
    RawConnection conn(tight.proxyPort());
    const auto started = Clock::now();
    std::string out;
    EXPECT_TRUE(conn.read(out, seconds(5))) << "still open after 5 s";
    const auto took = Clock::now() - started;
    EXPECT_EQ(out, "");
    EXPECT_GE(took, milliseconds(700));
    EXPECT_LT(took, seconds(3));
  }
  {  // 3,000 bytes of headers: 431 under a 2 KiB limit (the default is 32 KiB)
    RawConnection conn(tight.proxyPort());
    ASSERT_TRUE(
        conn.send("GET / HTTP/1.1\r\n" + host + "X-Big: " + std::string(3000, 'a') + "\r\n\r\n"));
    std::string out;
    conn.read(out, seconds(3), 12);
    EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0U) << out;
  }
}

TEST(ProxyClientOptionsTest, OutOfRangeValuesAreRefusedNamingTheOption) {
  TempDir dir;
  const std::vector<std::pair<std::string, std::string>> bad = {{"--header-timeout-ms", "0"},
                                                                {"--idle-timeout-ms", "86400001"},
                                                                {"--client-io-timeout-ms", "soon"},
                                                                {"--drain-timeout-ms", "0"},
                                                                {"--max-header-bytes", "100"}};
  for (const auto& [option, value] : bad) {
    CommandResult r = runTurnpike({"serve", "--db", dir.path() + "/t.db", "--proxy-listen",
                                   "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", option, value},
                                  {}, seconds(10));
    EXPECT_GT(r.exit_code, 0) << option << " " << value << " was accepted";
    EXPECT_NE(r.err.find(option), std::string::npos) << option << ": " << r.err;
  }
}

TEST_F(ProxyClientFaultsTest, ASlowButCompleteBodyIsRelayedWhole) {
  // One byte every 100 ms is slow, but each read is well within the client I/O timeout.
  const ResourceBaseline baseline(pid());
  const std::string body = "slow-body-0123456789";
  RawConnection conn(port());
  ASSERT_TRUE(conn.send("POST /slow-body HTTP/1.1\r\n" + hostLine() +
                        "Content-Type: text/plain\r\nConnection: close\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n"));
  for (char c : body) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_TRUE(conn.send(std::string_view(&c, 1)));
  }
  std::string out;
  EXPECT_TRUE(conn.read(out, seconds(10)));
  EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0U) << out;
  const size_t head_end = out.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos) << out;
  const json echo = json::parse(out.substr(head_end + 4), nullptr, false);
  EXPECT_EQ(echo.value("body", ""), body) << out;
  conn.close();
  baseline.expectRestored();
}

TEST_F(ProxyClientFaultsTest, AStalledBodyHoldsNothingOnceTheClientLeaves) {
  // Content-Length promises more than is sent. The proxy has already passed the head and the
  // first bytes upstream; it waits for the rest under the client I/O timeout (60 s, not settable
  // from the command line, so not waited for here). Meanwhile others are served, and once the
  // client gives up, the upstream connection is dropped: the upstream never sees a complete
  // request, and no descriptor stays behind.
  const ResourceBaseline baseline(pid());
  const uint64_t served = upstream_.requestsServed();
  const uint64_t accepted = upstream_.connectionsAccepted();
  for (bool reset : {false, true}) {
    SCOPED_TRACE(reset ? "client resets" : "client closes");
    RawConnection conn(port());
    ASSERT_TRUE(conn.send("POST /stalled HTTP/1.1\r\n" + hostLine() +
                          "Content-Type: text/plain\r\nContent-Length: 100000\r\n\r\n" +
                          std::string(1000, 's')));
    std::string out;
    EXPECT_FALSE(conn.read(out, milliseconds(500))) << "closed early: " << out;
    EXPECT_EQ(out, "") << "nothing to answer yet";
    expectServedPromptly();
    conn.close(reset);
  }
  EXPECT_TRUE(eventually([&] { return upstream_.openConnections() <= 1; }))
      << upstream_.openConnections() << " upstream connections stay open";
  EXPECT_EQ(upstream_.requestsServed(), served + 2) << "only the two normal requests";
  EXPECT_GE(upstream_.connectionsAccepted(), accepted);
  baseline.expectRestored();
}

TEST_F(ProxyClientFaultsTest, AFullRequestThenHalfCloseStillGetsItsResponse) {
  // shutdown(SHUT_WR) after a complete request: "I have nothing more to say", not "go away".
  const ResourceBaseline baseline(pid());
  for (const char* target : {"/half-closed", "/half-closed?delay_ms=300"}) {
    SCOPED_TRACE(target);
    RawConnection conn(port());
    ASSERT_TRUE(conn.send(std::string("GET ") + target + " HTTP/1.1\r\n" + hostLine() + "\r\n"));
    conn.shutdownWrite();
    std::string out;
    EXPECT_TRUE(conn.read(out, seconds(10))) << "the proxy should close after answering";
    EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0U) << out;
    EXPECT_NE(out.find("\"upstream\":\"up\""), std::string::npos) << out;
  }
  {  // A POST with its body, then the half-close.
    RawConnection conn(port());
    ASSERT_TRUE(conn.send("POST /half-closed HTTP/1.1\r\n" + hostLine() +
                          "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"));
    conn.shutdownWrite();
    std::string out;
    EXPECT_TRUE(conn.read(out, seconds(10)));
    EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0U) << out;
    EXPECT_NE(out.find("\"body\":\"hello\""), std::string::npos) << out;
  }
  baseline.expectRestored();
}

TEST_F(ProxyClientFaultsTest, HalfARequestThenHalfCloseReachesNothing) {
  // The client stops halfway and half-closes: the request can never be completed, so the
  // connection is closed (a 400 or nothing at all), and the upstream never gets a request.
  const ResourceBaseline baseline(pid());
  const uint64_t served = upstream_.requestsServed();
  const std::vector<std::pair<std::string, std::string>> halves = {
      {"half a request line", "GET /half-req"},
      {"half the headers", "GET /half-headers HTTP/1.1\r\n" + hostLine() + "X-A: "},
      {"half a Content-Length body",
       "POST /half-body HTTP/1.1\r\n" + hostLine() + "Content-Length: 10\r\n\r\nhello"},
      {"half a chunked body", "POST /half-chunked HTTP/1.1\r\n" + hostLine() +
                                  "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
  };
  for (const auto& [what, half] : halves) {
    SCOPED_TRACE(what);
    RawConnection conn(port());
    ASSERT_TRUE(conn.send(half));
    conn.shutdownWrite();
    std::string out;
    EXPECT_TRUE(conn.read(out, seconds(10))) << "the connection was not closed";
    EXPECT_TRUE(out.empty() || out.rfind("HTTP/1.1 400 ", 0) == 0) << out;
  }
  EXPECT_EQ(upstream_.requestsServed(), served) << "an incomplete request reached the upstream";
  EXPECT_TRUE(eventually([&] { return upstream_.openConnections() <= 1; }))
      << upstream_.openConnections() << " upstream connections stay open";
  expectServedPromptly();
  baseline.expectRestored();
}

TEST_F(ProxyClientFaultsTest, TenThousandHeaderFieldsGet431Promptly) {
  const ResourceBaseline baseline(pid());
  const uint64_t served = upstream_.requestsServed();
  std::string request = "GET /many-headers HTTP/1.1\r\n" + hostLine();
  for (int i = 0; i < 10000; ++i) request += "X-" + std::to_string(i) + ": v\r\n";
  request += "\r\n";
  const auto started = Clock::now();
  RawConnection conn(port());
  conn.send(request);  // the proxy may answer and close before it has read everything
  std::string out;
  EXPECT_TRUE(conn.read(out, seconds(10)));
  EXPECT_LT(Clock::now() - started, seconds(5));
  EXPECT_EQ(out.rfind("HTTP/1.1 431 ", 0), 0U) << out.substr(0, 500);
  EXPECT_NE(out.find("application/problem+json"), std::string::npos) << out.substr(0, 500);
  EXPECT_EQ(upstream_.requestsServed(), served) << "the request reached the upstream";

  // Many fields within the size limit are fine: 1,000 of them.
  Headers many;
  for (int i = 0; i < 1000; ++i) many.emplace_back("X-" + std::to_string(i), "v");
  Response fine = proxy().get("/thousand-headers", many);
  ASSERT_EQ(fine.status, 200) << fine;
  EXPECT_EQ(fine.json()["headers"].value("x-999", ""), "v");
  baseline.expectRestored();
}

TEST_F(ProxyClientFaultsTest, ThousandsOfIdleConnectionsDoNotStarveOthers) {
  // Connections that send nothing cost the proxy a descriptor and a little memory each, until
  // its idle timeout. 2,000 of them must not keep a normal request from being served, and
  // closing them gives everything back. Two rounds: the first grows the allocator, the second
  // shows whether anything is kept per connection.
  constexpr int kIdle = 2000;
  const uint64_t own = raiseOwnFdLimit(kIdle + 500);
  if (own < kIdle + 200) GTEST_SKIP() << "this process may open only " << own << " descriptors";
  const std::optional<FdLimits> child = fdLimits(pid());
  ASSERT_TRUE(child.has_value());
  if (child->soft < kIdle + 200) {
    GTEST_SKIP() << "turnpike may open only " << child->soft << " descriptors (soft limit; hard "
                 << child->hard << "); it does not raise its own limit";
  }

  auto round = [&](const ResourceBaseline& before) {
    std::vector<std::unique_ptr<RawConnection>> idle;
    idle.reserve(kIdle);
    for (int i = 0; i < kIdle; ++i) {
      idle.push_back(std::make_unique<RawConnection>(port()));
      ASSERT_TRUE(idle.back()->connected()) << "connection " << i;
    }
    // The proxy has accepted them all (each holds a descriptor) ...
    EXPECT_TRUE(eventually([&] { return openFdCount(pid()) >= before.fds() + kIdle; }, seconds(20)))
        << "accepted only " << openFdCount(pid()) - before.fds();
    // ... and still serves a normal request at once.
    expectServedPromptly();
    std::string nothing;
    EXPECT_FALSE(idle.front()->read(nothing, milliseconds(100))) << "an idle connection closed";
    idle.clear();
    EXPECT_TRUE(fdCountSettles(pid(), before.fds() + kFdSlack, seconds(20)))
        << "baseline " << before.fds();
  };
  round(ResourceBaseline(pid()));
  if (HasFatalFailure()) return;
  const ResourceBaseline baseline(pid());
  round(baseline);
  expectServedPromptly();
  baseline.expectRestored();
}

TEST_F(ProxyClientFaultsTest, AClientLeavingMidResponseReleasesTheUpstream) {
  // A 64 MiB download abandoned after the first MiB, by a close and by a reset: the proxy's
  // write fails, and it must drop the upstream connection rather than keep (or pool) it.
  constexpr uint64_t kSize = 64 * kMiB;
  const ResourceBaseline baseline(pid());
  for (int i = 0; i < 6; ++i) {
    const bool reset = i % 2 == 1;
    SCOPED_TRACE(reset ? "client resets" : "client closes");
    RawConnection conn(port());
    ASSERT_TRUE(conn.send("GET /download?size=" + std::to_string(kSize) + " HTTP/1.1\r\n" +
                          hostLine() + "\r\n"));
    std::string out;
    conn.read(out, seconds(10), kMiB);
    ASSERT_GE(out.size(), kMiB) << out.substr(0, 300);
    EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0U) << out.substr(0, 300);
    conn.close(reset);
  }
  EXPECT_TRUE(eventually([&] { return upstream_.openConnections() <= 1; }, seconds(10)))
      << upstream_.openConnections() << " upstream connections stay open";
  expectServedPromptly();
  baseline.expectRestored();
}

}  // namespace
}  // namespace turnpike::test_support
