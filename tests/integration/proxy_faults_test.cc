// Upstream faults through the real binary, one fault per test, each repeated so that a leak per
// request would show: what the client sees (502, 504, or a response cut short once its headers
// were sent), that traffic to a healthy service on the same worker goes on unharmed meanwhile,
// and that afterwards the process is alive with its open descriptors and memory back where they
// were before the fault.
//
// The suite runs one worker (ProxySuiteTest), so the faulty and the healthy exchanges share one
// event loop: a fault that blocked it would show in the healthy traffic.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/process_stats.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using test::TestUpstream;
using Clock = std::chrono::steady_clock;

// Descriptors the proxy may legitimately hold beyond the baseline afterwards: a pooled
// keep-alive connection to each upstream of the test, and one accepted connection still closing.
constexpr int kFdSlack = 3;
// Resident memory growth tolerated after the fault (allocator caches, log buffers); a leak of
// the fault's buffers over the rounds would exceed it.
constexpr uint64_t kRssSlack = 8 * kMiB;
// Rounds of each fault: enough that one leaked descriptor per fault exceeds kFdSlack.
constexpr int kRounds = 8;
// The read timeout of services under a timing fault: short so the suite is fast, long enough
// that an answering upstream on a loaded machine is not mistaken for a hung one.
constexpr int kReadTimeoutMs = 500;

// What arrived on a raw connection for one request.
struct RawExchange {
  std::string head;     // status line and headers, "" when no complete head arrived
  std::string body;     // what followed the head
  bool closed = false;  // the proxy closed (or reset) the connection; false: our read timed out
  int status = 0;

  // The response's Content-Length, -1 when absent.
  long long contentLength() const {
    static constexpr std::string_view kName = "\ncontent-length:";
    std::string lower;
    for (char c : head) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t at = lower.find(kName);
    if (at == std::string::npos) return -1;
    return std::atoll(head.c_str() + at + kName.size());
  }
};

std::ostream& operator<<(std::ostream& os, const RawExchange& e) {
  return os << (e.closed ? "[closed] " : "[timed out] ") << e.head << "(" << e.body.size()
            << " body bytes)";
}

// Sends `request` on a fresh loopback connection and reads until the peer closes or `timeout`.
RawExchange rawExchange(uint16_t port, const std::string& request, milliseconds timeout) {
  RawExchange out;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ADD_FAILURE() << "cannot connect to the proxy on port " << port;
    if (fd >= 0) ::close(fd);
    return out;
  }
  timeval tv{.tv_sec = 0, .tv_usec = 100'000};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ADD_FAILURE() << "cannot send the request";
  }
  std::string wire;
  const auto deadline = Clock::now() + timeout;
  char buffer[64 * 1024];
  while (Clock::now() < deadline) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      wire.append(buffer, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    out.closed = true;  // 0: orderly close; < 0: reset
    break;
  }
  ::close(fd);
  const size_t end = wire.find("\r\n\r\n");
  if (end != std::string::npos) {
    out.head = wire.substr(0, end + 4);
    out.body = wire.substr(end + 4);
    if (out.head.rfind("HTTP/1.1 ", 0) == 0) out.status = std::atoi(out.head.c_str() + 9);
  } else {
    out.body = wire;
  }
  return out;
}

// Requests to a healthy service, from a thread of their own, for as long as the object lives:
// alternately a GET and a POST with a body, each checked (200, served by the expected upstream,
// the path and the body echoed back).
class BackgroundTraffic {
 public:
  BackgroundTraffic(uint16_t port, std::string host, std::string upstream)
      : client_("127.0.0.1", port, std::chrono::seconds(10)), upstream_(std::move(upstream)) {
    client_.setDefaultHeader("Host", std::move(host));
    thread_ = std::thread([this] { run(); });
  }
  ~BackgroundTraffic() { stop(); }
  BackgroundTraffic(const BackgroundTraffic&) = delete;
  BackgroundTraffic& operator=(const BackgroundTraffic&) = delete;

  // Waits until `n` requests have succeeded (the traffic is flowing before the fault starts).
  bool waitForSuccesses(int n) {
    return eventually([&] { return ok_.load() >= n; }, std::chrono::seconds(10));
  }
  // Ends the traffic and closes its connection.
  void stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    client_.close();
  }

  int ok() const { return ok_; }
  int bad() const { return bad_; }
  milliseconds slowest() const { return milliseconds(slowest_ms_.load()); }
  std::string firstBad() {
    std::lock_guard lock(mu_);
    return first_bad_;
  }

 private:
  void run() {
    for (int i = 0; !stop_; ++i) {
      const std::string path = "/bg/" + std::to_string(i);
      const auto started = Clock::now();
      const bool post = i % 2 == 1;
      const json sent = {{"i", i}, {"pad", std::string(static_cast<size_t>(i % 300), 'p')}};
      Response r = post ? client_.post(path, sent) : client_.get(path);
      const auto took = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
      if (took.count() > slowest_ms_) slowest_ms_ = took.count();
      const json echo = r.json();
      const bool good = r.status == 200 && echo.is_object() &&
                        echo.value("upstream", "") == upstream_ && echo.value("path", "") == path &&
                        (!post || echo.value("body", "") == sent.dump());
      if (good) {
        ++ok_;
        continue;
      }
      if (bad_++ == 0) {
        std::lock_guard lock(mu_);
        std::ostringstream text;
        text << (post ? "POST " : "GET ") << path << ":\n" << r;
        first_bad_ = text.str();
      }
    }
  }

  HttpClient client_;
  const std::string upstream_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0};
  std::atomic<int> bad_{0};
  std::atomic<long long> slowest_ms_{0};
  std::mutex mu_;
  std::string first_bad_;  // guarded by mu_
  std::thread thread_;
};

class ProxyFaultsTest : public ProxySuiteTest {
 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    healthy_.start();
    healthy_host_ = uniqueName("healthy") + ".example.test";
    route(service(healthy_.url()), {{"hosts", {healthy_host_}}});
  }

  // A client of the faulty route (host_).
  HttpClient faulty(milliseconds timeout = std::chrono::seconds(10)) { return proxy("", timeout); }
  // A GET of `target` on the faulty route; `close`: asks the proxy to close after answering, so
  // that reading until the close gets exactly one answer.
  std::string rawGet(const std::string& target, bool close = true) {
    return "GET " + target + " HTTP/1.1\r\nHost: " + host_ + "\r\n" +
           (close ? "Connection: close\r\n" : "") + "\r\n";
  }
  pid_t pid() { return process().pid(); }

  // Runs `round` once to warm up (so buffers, pools and the error paths exist before the
  // baseline), measures the baseline, starts the healthy traffic, runs `round` kRounds times,
  // and then checks that the healthy traffic never failed or stalled, that the process lives,
  // and that its descriptors and memory came back.
  void underFault(const std::function<void(int round)>& round) {
    round(-1);
    {
      HttpClient warm("127.0.0.1", process().proxyPort());
      ASSERT_EQ(warm.get("/warm", {{"Host", healthy_host_}}).status, 200);
    }
    if (HasFatalFailure()) return;
    const int fds = settledFdCount(pid());
    const uint64_t rss = rssBytes(pid());
    ASSERT_GT(fds, 0);
    ASSERT_GT(rss, 0U);

    BackgroundTraffic traffic(process().proxyPort(), healthy_host_, "healthy");
    ASSERT_TRUE(traffic.waitForSuccesses(5)) << traffic.firstBad();
    const int ok_before = traffic.ok();
    for (int i = 0; i < kRounds && !HasFatalFailure(); ++i) {
      SCOPED_TRACE("round " + std::to_string(i));
      round(i);
    }
    // The healthy traffic really overlapped the fault, and stayed healthy throughout.
    ASSERT_TRUE(eventually([&] { return traffic.ok() >= ok_before + 5; }));
    traffic.stop();
    EXPECT_EQ(traffic.bad(), 0) << "of " << traffic.ok() + traffic.bad()
                                << " requests to the healthy service; the first:\n"
                                << traffic.firstBad();
    EXPECT_LT(traffic.slowest(), milliseconds(3000)) << "a healthy request waited on the fault";

    EXPECT_TRUE(process().running());
    EXPECT_TRUE(processAlive(pid()));
    EXPECT_TRUE(fdCountSettles(pid(), fds + kFdSlack)) << "baseline " << fds;
    if (kRssReflectsFrees) {
      const uint64_t rss_after = rssBytes(pid());
      EXPECT_LT(rss_after, rss + kRssSlack)
          << "VmRSS grew from " << rss / 1024 << " KiB to " << rss_after / 1024 << " KiB";
    }
    // And the proxy still serves both services.
    EXPECT_EQ(servedBy(proxy(healthy_host_).get("/after")), "healthy");
  }

  TestUpstream healthy_{"healthy"};
  std::string healthy_host_;
};

TEST_F(ProxyFaultsTest, RefusedConnectionIs502) {
  // Passive health takes a target out after three failures in a row (503 "no healthy target"
  // then, for a growing while). So that every round meets a refused connection, and answers
  // 502, the service has a refusing target per round, taken in turn by round robin.
  std::vector<std::unique_ptr<RefusingPort>> refusing;
  json targets = json::array();
  for (int i = 0; i < kRounds + 2; ++i) {
    refusing.push_back(std::make_unique<RefusingPort>());
    targets.push_back({{"url", refusing.back()->url()}, {"weight", 100}});
  }
  const std::string name = uniqueName("svc");
  create("/services", {{"name", name}, {"targets", targets}, {"retries", 0}});
  route(name);
  HttpClient c = faulty();
  underFault([&](int) { EXPECT_TRUE(isProxyProblem(c.get("/refused"), 502)); });
}

TEST_F(ProxyFaultsTest, ResetBeforeTheHeadersIs502) {
  TestUpstream up("flaky");
  up.start();
  route(service(up.url()));
  HttpClient c = faulty();
  underFault([&](int) {
    EXPECT_TRUE(isProxyProblem(c.get("/?reset=headers"), 502));
    // A success in between keeps passive health from ejecting the target.
    EXPECT_EQ(servedBy(c.get("/ok")), "flaky");
  });
  EXPECT_TRUE(eventually([&] { return up.openConnections() <= 1; }))
      << "the proxy holds " << up.openConnections() << " upstream connections";
}

TEST_F(ProxyFaultsTest, ResetInTheBodyCutsTheResponseShort) {
  // The status line and headers (200, the full Content-Length) were relayed before the reset:
  // the proxy can only close the client's connection, which then sees a short body.
  TestUpstream up("flaky");
  up.start();
  route(service(up.url()));
  constexpr long long kSize = 256 * 1024;
  HttpClient c = faulty();
  underFault([&](int) {
    RawExchange cut = rawExchange(process().proxyPort(),
                                  rawGet("/big?reset=body&size=" + std::to_string(kSize), false),
                                  std::chrono::seconds(10));
    EXPECT_EQ(cut.status, 200) << cut;
    EXPECT_EQ(cut.contentLength(), kSize) << cut;
    EXPECT_LT(static_cast<long long>(cut.body.size()), kSize) << cut;
    EXPECT_TRUE(cut.closed) << "the proxy must close a connection whose body it cannot finish";
    EXPECT_EQ(servedBy(c.get("/ok")), "flaky");
  });
  EXPECT_TRUE(eventually([&] { return up.openConnections() <= 1; }))
      << "the proxy holds " << up.openConnections() << " upstream connections";
}

TEST_F(ProxyFaultsTest, GarbageInsteadOfAStatusLineIs502) {
  TestUpstream up("flaky");
  up.start();
  route(service(up.url()));
  HttpClient c = faulty();
  underFault([&](int) {
    EXPECT_TRUE(isProxyProblem(c.get("/?garbage=1"), 502));
    EXPECT_EQ(servedBy(c.get("/ok")), "flaky");
  });
}

TEST_F(ProxyFaultsTest, HungUpstreamIs504AfterTheReadTimeout) {
  TestUpstream up("flaky");
  up.start();
  route(service(up.url(), {{"read_timeout_ms", kReadTimeoutMs}}));
  HttpClient c = faulty();
  underFault([&](int) {
    const auto started = Clock::now();
    Response r = c.get("/?hang=1");
    const auto took = Clock::now() - started;
    EXPECT_TRUE(isProxyProblem(r, 504));
    EXPECT_GE(took, milliseconds(kReadTimeoutMs - 10));
    EXPECT_LT(took, milliseconds(kReadTimeoutMs + 4000));
    EXPECT_EQ(servedBy(c.get("/ok")), "flaky");
  });
  // The proxy gave up on the hung connections rather than keeping them.
  EXPECT_TRUE(eventually([&] { return up.openConnections() <= 1; }))
      << "the proxy holds " << up.openConnections() << " upstream connections";
}

// The upstream sends its headers at once, then a body byte every second: each read waits
// longer than the read timeout, so the proxy gives up before any body byte arrived. Nothing was
// relayed yet (the proxy sends the response head with the first body piece), so the client gets
// the proxy's own 504, promptly, and nothing is held afterwards.
TEST_F(ProxyFaultsTest, UpstreamTricklingOneBytePerSecondIsCutOffAtTheReadTimeout) {
  TestUpstream up("flaky");
  up.start();
  route(service(up.url(), {{"read_timeout_ms", kReadTimeoutMs}}));
  HttpClient c = faulty();
  underFault([&](int) {
    const auto started = Clock::now();
    RawExchange r = rawExchange(process().proxyPort(), rawGet("/?size=4&trickle_ms=1000"),
                                std::chrono::seconds(10));
    EXPECT_LT(Clock::now() - started, milliseconds(kReadTimeoutMs + 4000));
    EXPECT_TRUE(r.closed) << r;
    EXPECT_EQ(r.status, 504) << r;
    EXPECT_NE(r.head.find("application/problem+json"), std::string::npos) << r;
    EXPECT_EQ(servedBy(c.get("/ok")), "flaky");
  });
  EXPECT_TRUE(eventually([&] { return up.openConnections() <= 1; }))
      << "the proxy holds " << up.openConnections() << " upstream connections";
}

TEST_F(ProxyFaultsTest, UpstreamClosingAnIdleKeepAliveConnectionIsInvisible) {
  // The upstream closes the pooled connection (its keep-alive timeout) between requests. The
  // proxy must not answer a request with an error for it: a GET is retried on a fresh
  // connection, a POST is never sent on a closed one. SeveralClosedIdleConnectionsAreInvisible
  // holds the proxy to the same with more than one pooled connection closed at once.
  TestUpstream up("flaky");
  up.start();
  route(service(up.url()));
  HttpClient c = faulty();
  underFault([&](int round) {
    ASSERT_EQ(servedBy(c.get("/fill")), "flaky");
    ASSERT_TRUE(
        eventually([&] { return up.closeIdleConnections() >= 0 && up.openConnections() == 0; },
                   std::chrono::seconds(5)))
        << up.openConnections() << " upstream connections stay open";
    Response r =
        round % 2 == 0 ? c.get("/after-close") : c.post("/after-close", json{{"i", round}});
    EXPECT_EQ(servedBy(r), "flaky") << "after the upstream closed the idle connection:\n" << r;
  });
}

TEST_F(ProxyFaultsTest, SeveralClosedIdleConnectionsAreInvisible) {
  constexpr int kParallel = 4;
  TestUpstream up("flaky");
  up.start();
  route(service(up.url()));
  // kParallel overlapping requests leave kParallel idle connections in the proxy's pool.
  std::vector<std::thread> overlapping;
  for (int i = 0; i < kParallel; ++i) {
    overlapping.emplace_back(
        [&] { EXPECT_EQ(servedBy(proxy().get("/fill?delay_ms=200")), "flaky"); });
  }
  for (std::thread& t : overlapping) t.join();
  ASSERT_EQ(up.closeIdleConnections(), kParallel);
  HttpClient c = faulty();
  for (int i = 0; i < kParallel + 1; ++i) {
    Response r = i % 2 == 0 ? c.get("/after-close") : c.post("/after-close", json{{"i", i}});
    EXPECT_EQ(servedBy(r), "flaky")
        << "request " << i << " after the upstream closed " << kParallel << " idle connections:\n"
        << r;
  }
}

// The upstream's headers say chunked, then the first chunk-size line is not hex. Nothing of the
// body was relayed yet, so the client gets the proxy's own 502; the bad chunk never reaches it,
// and nothing is held afterwards.
TEST_F(ProxyFaultsTest, BadChunkSizeEndsTheExchange) {
  TestUpstream up("flaky");
  up.start();
  route(service(up.url()));
  HttpClient c = faulty();
  underFault([&](int) {
    RawExchange r =
        rawExchange(process().proxyPort(), rawGet("/?bad_chunk=1"), std::chrono::seconds(10));
    EXPECT_TRUE(r.closed) << r;
    EXPECT_EQ(r.body.find("not a chunk"), std::string::npos) << "the bad chunk was relayed: " << r;
    EXPECT_EQ(r.status, 502) << r;
    EXPECT_NE(r.head.find("application/problem+json"), std::string::npos) << r;
    EXPECT_EQ(servedBy(c.get("/ok")), "flaky");
  });
}

}  // namespace
}  // namespace turnpike::test_support
