// The proxy's side towards upstreams, through the real binary with one worker (so that
// connection counts and round-robin sequences are exact): keep-alive pooling and the stale
// connection retry, load balancing (weights, least connections, consistent hash), the answers
// Turnpike makes when an upstream fails (API.md "The proxy's own answers": 502, 503, 504),
// passive and active health, and the headers each side sees.
//
// Every test starts its own upstreams (TestUpstream) and routes on its own unique host name, so
// the tests of the suite share one process without seeing each other's routes.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using test::TestUpstream;
using Clock = std::chrono::steady_clock;

class ProxyUpstreamTest : public ProxySuiteTest {
 protected:
  // Creates a service from `targets` (url, weight) and `fields`, and a route sending every
  // request for host_ to it; waits until the proxy serves both.
  void serve(const std::vector<std::pair<std::string, int>>& targets,
             json fields = json::object()) {
    json list = json::array();
    for (const auto& [url, weight] : targets) list.push_back({{"url", url}, {"weight", weight}});
    const std::string name = uniqueName("svc");
    fields["name"] = name;
    fields["targets"] = list;
    create("/services", fields);
    route(name);
  }

  // How many of `n` GETs of `target` each upstream answered.
  std::map<std::string, int> spread(int n, const std::string& target = "/") {
    std::map<std::string, int> seen;
    HttpClient c = proxy();
    for (int i = 0; i < n; ++i) seen[servedBy(c.get(target))]++;
    return seen;
  }
};

TEST_F(ProxyUpstreamTest, ReusesKeepAliveConnectionsAndRetriesAStaleOne) {
  TestUpstream up("up");
  up.start();
  serve({{up.url(), 100}});
  HttpClient c = proxy();
  for (int i = 0; i < 10; ++i) ASSERT_EQ(c.get("/r").status, 200);
  EXPECT_EQ(up.connectionsAccepted(), 1U) << "one pooled upstream connection for 10 requests";
  EXPECT_EQ(up.requestsServed(), 10U);

  // The upstream's keep-alive timeout closes the idle connection: the next GET fails on it and
  // is retried once on a fresh connection, invisibly to the client.
  EXPECT_EQ(up.closeIdleConnections(), 1);
  std::this_thread::sleep_for(milliseconds(50));
  Response r = c.get("/after-close");
  EXPECT_EQ(r.status, 200) << r;
  EXPECT_EQ(up.connectionsAccepted(), 2U);

  // A POST is never sent on a connection the upstream closed, so it succeeds too.
  EXPECT_EQ(up.closeIdleConnections(), 1);
  std::this_thread::sleep_for(milliseconds(50));
  Response post = c.post("/p", json{{"a", 1}});
  ASSERT_EQ(post.status, 200) << post;
  EXPECT_EQ(post.json().value("body_bytes", 0), 7);
  EXPECT_EQ(c.connectCount(), 1) << "the client's connection was never disturbed";
}

TEST_F(ProxyUpstreamTest, WeightsSplitTrafficOneToThree) {
  TestUpstream a("a"), b("b");
  a.start();
  b.start();
  serve({{a.url(), 1}, {b.url(), 3}});
  auto seen = spread(100);
  EXPECT_EQ(seen["a"], 25);
  EXPECT_EQ(seen["b"], 75);
  EXPECT_EQ(seen.size(), 2U) << "nothing else answered";
}

TEST_F(ProxyUpstreamTest, LeastConnectionsAvoidsTheBusyTarget) {
  TestUpstream a("a"), b("b");
  a.start();
  b.start();
  serve({{a.url(), 100}, {b.url(), 100}}, {{"load_balancing", "least_connections"}});

  std::string slow_upstream;
  std::thread slow([&] { slow_upstream = servedBy(proxy().get("/?delay_ms=800")); });
  const bool arrived =
      eventually([&] { return a.requestsServed() + b.requestsServed() == 1; }, milliseconds(2000));
  auto seen = spread(8);
  slow.join();
  ASSERT_TRUE(arrived) << "the slow request never reached an upstream";
  ASSERT_TRUE(slow_upstream == "a" || slow_upstream == "b") << slow_upstream;
  const std::string idle = slow_upstream == "a" ? "b" : "a";
  EXPECT_EQ(seen[idle], 8) << "while " << slow_upstream << " is busy, every request goes to "
                           << idle;
  EXPECT_EQ(spread(8)[idle], 4) << "once both are idle, they share again";
}

TEST_F(ProxyUpstreamTest, ConsistentHashKeepsAUserOnOneTarget) {
  TestUpstream a("a"), b("b"), c("c");
  a.start();
  b.start();
  c.start();
  serve({{a.url(), 100}, {b.url(), 100}, {c.url(), 100}},
        {{"load_balancing", "consistent_hash"}, {"hash_on", "header:x-user"}});
  HttpClient client = proxy();
  std::set<std::string> used;
  for (int user = 0; user < 20; ++user) {
    const std::string id = "user-" + std::to_string(user);
    const std::string first = servedBy(client.get("/", {{"X-User", id}}));
    ASSERT_TRUE(first == "a" || first == "b" || first == "c") << first;
    used.insert(first);
    for (int again = 0; again < 3; ++again) {
      EXPECT_EQ(servedBy(client.get("/", {{"X-User", id}})), first) << id;
    }
  }
  EXPECT_GE(used.size(), 2U) << "20 users should not all hash to one of three targets";
}

TEST_F(ProxyUpstreamTest, RefusedConnectionIs502AndAnotherTargetIsTried) {
  RefusingPort refusing;
  serve({{refusing.url(), 100}});
  HttpClient c = proxy();
  Response refused = c.get("/");
  EXPECT_TRUE(isProxyProblem(refused, 502));
  EXPECT_EQ(refused.json().value("request_id", ""), refused.headerOr("X-Request-Id"));

  // With a live target next to the dead one, a refused connect moves on (even for a POST:
  // nothing was sent), and clients never see the dead one.
  TestUpstream live("live");
  live.start();
  host_ = uniqueName("up") + ".example.test";
  RefusingPort also_refusing;
  serve({{also_refusing.url(), 100}, {live.url(), 100}}, {{"retries", 1}});
  HttpClient d = proxy();
  for (int i = 0; i < 6; ++i) {
    Response r = d.post("/", json{{"i", i}});
    EXPECT_EQ(servedBy(r), "live") << r;
  }
}

TEST_F(ProxyUpstreamTest, ResetAndGarbageAre502) {
  TestUpstream up("up");
  up.start();
  serve({{up.url(), 100}});
  HttpClient c = proxy();
  EXPECT_TRUE(isProxyProblem(c.get("/?reset=headers"), 502));
  EXPECT_TRUE(isProxyProblem(c.get("/?garbage=1"), 502));
  EXPECT_EQ(servedBy(c.get("/")), "up") << "the proxy and the target are fine afterwards";
}

TEST_F(ProxyUpstreamTest, SlowUpstreamIs504AfterReadTimeout) {
  TestUpstream up("up");
  up.start();
  serve({{up.url(), 100}}, {{"read_timeout_ms", 300}});
  HttpClient c = proxy();
  const auto started = Clock::now();
  Response slow = c.get("/?delay_ms=3000");
  const auto took = Clock::now() - started;
  EXPECT_TRUE(isProxyProblem(slow, 504));
  EXPECT_GE(took, milliseconds(290));
  EXPECT_LT(took, milliseconds(1500)) << "read_timeout_ms is 300";
  EXPECT_TRUE(isProxyProblem(c.get("/?hang=1"), 504));
  EXPECT_EQ(servedBy(c.get("/?delay_ms=50")), "up") << "within the timeout all is well";
}

TEST_F(ProxyUpstreamTest, NoTargetWithWeightIs503) {
  TestUpstream up("up");
  up.start();
  serve({{up.url(), 0}});
  Response r = proxy().get("/");
  EXPECT_TRUE(isProxyProblem(r, 503));
  EXPECT_EQ(up.requestsServed(), 0U);
}

TEST_F(ProxyUpstreamTest, PassiveHealthEjectsAFailingTargetThenTakesItBack) {
  TestUpstream up("up");
  up.start();
  serve({{up.url(), 100}});
  HttpClient c = proxy();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(isProxyProblem(c.get("/?reset=headers"), 502)) << i;
  const uint64_t served = up.requestsServed();
  Response ejected = c.get("/");
  EXPECT_TRUE(isProxyProblem(ejected, 503)) << "three failures in a row take it out";
  EXPECT_EQ(up.requestsServed(), served) << "an ejected target gets no traffic";
  std::this_thread::sleep_for(milliseconds(1100));
  EXPECT_EQ(servedBy(c.get("/")), "up") << "back after a second";
}

TEST_F(ProxyUpstreamTest, ActiveHealthCheckMovesTrafficAwayAndBack) {
  TestUpstream a("a"), b("b");
  a.start();
  b.start();
  serve({{a.url(), 100}, {b.url(), 100}}, {{"health_check",
                                            {{"path", "/healthz"},
                                             {"interval_ms", 100},
                                             {"unhealthy_after", 2},
                                             {"healthy_after", 1}}}});
  ASSERT_TRUE(eventually([&] { return a.healthChecks() >= 2 && b.healthChecks() >= 2; }))
      << "health checks: a " << a.healthChecks() << ", b " << b.healthChecks();
  EXPECT_EQ(spread(10)["a"], 5);

  a.setHealthy(false);
  auto started = Clock::now();
  ASSERT_TRUE(eventually([&] { return spread(4)["b"] == 4; }, milliseconds(3000)))
      << "traffic never left the unhealthy target";
  EXPECT_LT(Clock::now() - started, milliseconds(1000));
  EXPECT_EQ(spread(10)["b"], 10) << "and stays away";

  a.setHealthy(true);
  started = Clock::now();
  ASSERT_TRUE(eventually([&] { return spread(4)["a"] > 0; }, milliseconds(3000)))
      << "traffic never came back to the recovered target";
  EXPECT_LT(Clock::now() - started, milliseconds(1000));
}

TEST_F(ProxyUpstreamTest, HopByHopHeadersAreStrippedBothWays) {
  TestUpstream up("up");
  up.start();
  serve({{up.url(), 100}});
  Response r = proxy().get(
      "/?header.Keep-Alive=timeout%3D5&header.X-Upstream-Secret=1"
      "&header.Connection=X-Upstream-Secret&header.X-Kept=yes",
      {{"Connection", "X-Client-Secret"},
       {"X-Client-Secret", "s"},
       {"Keep-Alive", "timeout=5"},
       {"TE", "trailers"},
       {"Upgrade", "websocket"},
       {"X-Client-Kept", "yes"}});
  ASSERT_EQ(r.status, 200) << r;
  json headers = r.json()["headers"];
  for (const char* name : {"x-client-secret", "te", "keep-alive", "upgrade", "connection"}) {
    EXPECT_FALSE(headers.contains(name)) << name << " reached the upstream: " << headers.dump();
  }
  EXPECT_EQ(headers.value("x-client-kept", ""), "yes");
  EXPECT_FALSE(r.hasHeader("Keep-Alive")) << r;
  EXPECT_FALSE(r.hasHeader("X-Upstream-Secret")) << r;
  EXPECT_EQ(r.headerOr("X-Kept"), "yes");
}

TEST_F(ProxyUpstreamTest, ForwardingHeadersRequestIdAndTraceparentReachTheUpstream) {
  TestUpstream up("up");
  up.start();
  serve({{up.url(), 100}});
  HttpClient c = proxy();
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  Response r = c.get("/", {{"X-Forwarded-For", "203.0.113.9"},
                           {"traceparent", traceparent},
                           {"tracestate", "vendor=1"}});
  ASSERT_EQ(r.status, 200) << r;
  json headers = r.json()["headers"];
  EXPECT_EQ(headers.value("x-forwarded-for", ""), "203.0.113.9, 127.0.0.1");
  EXPECT_EQ(headers.value("x-forwarded-proto", ""), "http");
  EXPECT_EQ(headers.value("x-forwarded-host", ""), host_);
  EXPECT_EQ(headers.value("traceparent", ""), traceparent);
  EXPECT_EQ(headers.value("tracestate", ""), "vendor=1");
  const std::string id = headers.value("x-request-id", "");
  EXPECT_FALSE(id.empty()) << headers.dump();
  EXPECT_EQ(r.headerOr("X-Request-Id"), id) << "the client sees the id the upstream saw";

  Response second = c.get("/");
  EXPECT_NE(second.json()["headers"].value("x-request-id", ""), id) << "one id per request";
  EXPECT_EQ(second.json()["headers"].value("x-forwarded-for", ""), "127.0.0.1");

  Response given = c.get("/", {{"X-Request-Id", "client-trace-7"}});
  EXPECT_EQ(given.json()["headers"].value("x-request-id", ""), "client-trace-7");
  EXPECT_EQ(given.headerOr("X-Request-Id"), "client-trace-7");
}

}  // namespace
}  // namespace turnpike::test_support
