// ProxyServer on loopback, in process, against real upstream servers (TestUpstream): the network
// half of the data plane without the admin API. The same behaviour through the real binary is
// covered by tests/integration/proxy_*_test.cc.
#include "proxy/proxy_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "model/route.h"
#include "model/service.h"
#include "proxy/snapshot_builder.h"
#include "proxy/snapshot_registry.h"
#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"

namespace turnpike::proxy {
namespace {

using nlohmann::json;
using test::TestUpstream;
using test_support::HttpClient;
using test_support::RefusingPort;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

int64_t next_version = 1;

// Builds a config from API-shaped JSON (services get ids "svc-<name>").
std::shared_ptr<const Snapshot> buildSnapshot(const json& services, const json& routes) {
  model::Config config;
  config.version = next_version++;
  int n = 0;
  for (const json& s : services) {
    auto service = model::parseService(s);
    EXPECT_TRUE(service.ok()) << s.dump();
    service->id = "00000000-0000-4000-8000-00000000000" + std::to_string(n++);
    config.services.push_back(*service);
  }
  int r = 0;
  for (json route_json : routes) {
    for (const auto& service : config.services) {
      if (route_json["service"] == service.name) route_json["service"] = service.id;
    }
    auto route = model::parseRoute(route_json);
    EXPECT_TRUE(route.ok()) << route_json.dump();
    route->id = "10000000-0000-4000-8000-00000000000" + std::to_string(r);
    route->created_at = r++;
    config.routes.push_back(*route);
  }
  auto built = SnapshotBuilder::build(std::move(config));
  EXPECT_TRUE(built.ok()) << (built.ok() ? "" : built.error().message);
  return *built;
}

json service(const std::string& name, std::vector<std::pair<std::string, int>> targets,
             json extra = json::object()) {
  json t = json::array();
  for (auto& [url, weight] : targets) t.push_back({{"url", url}, {"weight", weight}});
  json s = {{"name", name}, {"targets", t}};
  s.update(extra);
  return s;
}

class ProxyServerTest : public ::testing::Test {
 protected:
  void startProxy(int workers = 1, ProxyOptions options = {}) {
    options.host = "127.0.0.1";
    options.port = 0;
    options.workers = workers;
    proxy_ = std::make_unique<ProxyServer>(registry_, options);
    ASSERT_TRUE(proxy_->start().ok());
  }
  void publish(const json& services, const json& routes) {
    ASSERT_TRUE(registry_.publish(buildSnapshot(services, routes)));
    // Workers pick the snapshot up at their next request; wait until each serves it.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (registry_.minServedVersion() < registry_.version() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  // Starts one worker serving `up` as service "s" on a catch-all route ("/", plus
  // `route_fields`).
  void serveOne(const TestUpstream& up, const json& route_fields = json::object()) {
    startProxy();
    json route = {{"service", "s"}, {"paths", {"/"}}};
    route.update(route_fields);
    publish(json::array({service("s", {{up.url(), 100}})}), json::array({route}));
  }
  HttpClient client() { return HttpClient("127.0.0.1", proxy_->port()); }

  // One raw exchange: writes `bytes`, reads until the server closes or `until` appears `count`
  // times.
  std::string raw(const std::string& bytes,
                  std::chrono::milliseconds wait = std::chrono::seconds(3)) {
    asio::io_context io;
    tcp::socket socket(io);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy_->port()));
    asio::write(socket, asio::buffer(bytes));
    std::string out;
    const auto deadline = std::chrono::steady_clock::now() + wait;
    socket.non_blocking(true);
    char buffer[65536];
    while (std::chrono::steady_clock::now() < deadline) {
      boost::system::error_code ec;
      std::size_t n = socket.read_some(asio::buffer(buffer), ec);
      if (ec == asio::error::would_block) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
        continue;
      }
      if (ec) break;
      out.append(buffer, n);
    }
    return out;
  }

  void TearDown() override {
    if (proxy_) proxy_->stop();
  }

  SnapshotRegistry registry_;
  std::unique_ptr<ProxyServer> proxy_;
};

TEST_F(ProxyServerTest, ForwardsToTheRouteServiceWithForwardingHeaders) {
  TestUpstream up("orders");
  up.start();
  startProxy();
  publish(json::array({service("orders", {{up.url(), 100}})}),
          json::array({{{"service", "orders"}, {"paths", {"/api/orders"}}}}));
  HttpClient c = client();
  auto r = c.get("/api/orders/7?expand=1",
                 {{"Host", "shop.example.com"},
                  {"X-Forwarded-For", "203.0.113.9"},
                  {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json echo = json::parse(r.body);
  EXPECT_EQ(echo["upstream"], "orders");
  EXPECT_EQ(echo["path"], "/7");  // strip_path defaults to true
  EXPECT_EQ(echo["query"], "expand=1");
  EXPECT_EQ(echo["headers"]["host"], "127.0.0.1:" + std::to_string(up.port()));
  EXPECT_EQ(echo["headers"]["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
  EXPECT_EQ(echo["headers"]["x-forwarded-host"], "shop.example.com");
  EXPECT_EQ(echo["headers"]["x-forwarded-proto"], "http");
  EXPECT_EQ(echo["headers"]["traceparent"],
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  const std::string id = echo["headers"]["x-request-id"];
  EXPECT_EQ(id.size(), 32U);
  EXPECT_EQ(r.headerOr("X-Request-Id"), id);  // the client sees the id the upstream saw
}

TEST_F(ProxyServerTest, PreserveHostAndClientRequestId) {
  TestUpstream up;
  up.start();
  startProxy();
  publish(
      json::array({service("s", {{up.url(), 100}})}),
      json::array(
          {{{"service", "s"}, {"paths", {"/"}}, {"preserve_host", true}, {"strip_path", false}}}));
  HttpClient c = client();
  auto r = c.get("/x", {{"Host", "api.example.com"}, {"X-Request-Id", "my-trace-1"}});
  ASSERT_EQ(r.status, 200);
  json echo = json::parse(r.body);
  EXPECT_EQ(echo["headers"]["host"], "api.example.com");
  EXPECT_EQ(echo["headers"]["x-request-id"], "my-trace-1");
  EXPECT_EQ(echo["path"], "/x");
}

TEST_F(ProxyServerTest, NoRouteIsA404ProblemWithRequestId) {
  startProxy();
  publish(json::array({service("s", {{"http://127.0.0.1:9", 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/only"}}}}));
  HttpClient c = client();
  auto r = c.get("/elsewhere");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.headerOr("Content-Type"), "application/problem+json");
  json problem = json::parse(r.body);
  EXPECT_EQ(problem["status"], 404);
  EXPECT_EQ(problem["request_id"], r.headerOr("X-Request-Id"));
  // The connection stays usable after our own answer.
  EXPECT_EQ(c.get("/elsewhere2").status, 404);
  EXPECT_EQ(c.connectCount(), 1);
}

TEST_F(ProxyServerTest, ReusesUpstreamConnectionsAndRetriesAStaleOne) {
  TestUpstream up;
  up.start();
  startProxy(1);
  publish(json::array({service("s", {{up.url(), 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  HttpClient c = client();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(c.get("/r").status, 200);
  EXPECT_EQ(up.connectionsAccepted(), 1U);

  // The upstream closes its idle keep-alive connection: the next GET fails on the pooled
  // connection and is retried once on a fresh one, invisibly to the client.
  EXPECT_EQ(up.closeIdleConnections(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto r = c.get("/after-close");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(up.connectionsAccepted(), 2U);

  // A POST is never sent on a connection the upstream has closed.
  EXPECT_EQ(up.closeIdleConnections(), 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  auto post = c.post("/p", json{{"a", 1}});
  EXPECT_EQ(post.status, 200) << post.body;
  EXPECT_EQ(json::parse(post.body)["body_bytes"], 7);
}

TEST_F(ProxyServerTest, UpstreamErrorsMapTo502And504) {
  TestUpstream up;
  up.start();
  RefusingPort refusing;
  const std::string down = refusing.url();
  startProxy();
  publish(json::array({service("live", {{up.url(), 100}},
                               {{"read_timeout_ms", 300},
                                {"health_check", {{"path", "/healthz"}, {"unhealthy_after", 10}}}}),
                       service("down", {{down, 100}}, {{"retries", 0}})}),
          json::array({{{"service", "live"}, {"paths", {"/live"}}},
                       {{"service", "down"}, {"paths", {"/down"}}}}));
  HttpClient c = client();
  auto refused = c.get("/down");
  EXPECT_EQ(refused.status, 502);
  EXPECT_EQ(refused.headerOr("Content-Type"), "application/problem+json");
  EXPECT_FALSE(refused.headerOr("X-Request-Id").empty());

  const auto started = std::chrono::steady_clock::now();
  auto slow = c.get("/live?delay_ms=3000");
  EXPECT_EQ(slow.status, 504);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(2000));

  EXPECT_EQ(c.get("/live?reset=headers").status, 502);
  EXPECT_EQ(c.get("/live?garbage=1").status, 502);
  EXPECT_EQ(c.get("/live").status, 200);  // and the proxy is fine
}

TEST_F(ProxyServerTest, PassiveHealthEjectsAFailingTargetForABackOff) {
  TestUpstream up;
  up.start();
  startProxy(1);
  publish(json::array({service("s", {{up.url(), 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  HttpClient c = client();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(c.get("/?reset=headers").status, 502);
  auto ejected = c.get("/");
  EXPECT_EQ(ejected.status, 503) << ejected.body;  // three in a row: out for a second
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  EXPECT_EQ(c.get("/").status, 200);
}

TEST_F(ProxyServerTest, ActiveHealthChecksTakeATargetOutAndBack) {
  TestUpstream a("a"), b("b");
  a.start();
  b.start();
  startProxy(2);
  publish(json::array({service("s", {{a.url(), 100}, {b.url(), 100}},
                               {{"health_check",
                                 {{"path", "/healthz"},
                                  {"interval_ms", 100},
                                  {"unhealthy_after", 2},
                                  {"healthy_after", 1}}}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  auto upstreamsSeen = [&](int requests) {
    std::map<std::string, int> seen;
    HttpClient c = client();
    for (int i = 0; i < requests; ++i) seen[json::parse(c.get("/").body)["upstream"]]++;
    return seen;
  };
  auto waitFor = [&](auto condition) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!condition() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return condition();
  };
  EXPECT_TRUE(waitFor([&] { return a.healthChecks() >= 2 && b.healthChecks() >= 2; }));
  EXPECT_EQ(upstreamsSeen(10)["a"], 5);

  a.setHealthy(false);
  ASSERT_TRUE(waitFor([&] {
    return proxy_->metricsText().find("turnpike_upstream_target_down{") != std::string::npos;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the posts reach the workers
  auto down = upstreamsSeen(10);
  EXPECT_EQ(down["a"], 0);
  EXPECT_EQ(down["b"], 10);

  a.setHealthy(true);
  ASSERT_TRUE(waitFor([&] {
    return proxy_->metricsText().find("turnpike_upstream_target_down{") == std::string::npos;
  }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_GT(upstreamsSeen(10)["a"], 0);
}

TEST_F(ProxyServerTest, NoUsableTargetIs503) {
  startProxy();
  publish(json::array({service("zero", {{"http://127.0.0.1:9", 0}})}),
          json::array({{{"service", "zero"}, {"paths", {"/"}}}}));
  HttpClient c = client();
  EXPECT_EQ(c.get("/").status, 503);
}

TEST_F(ProxyServerTest, WeightsSplitTraffic) {
  TestUpstream a("a"), b("b");
  a.start();
  b.start();
  startProxy(1);
  publish(json::array({service("s", {{a.url(), 100}, {b.url(), 300}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  HttpClient c = client();
  std::map<std::string, int> seen;
  for (int i = 0; i < 100; ++i) {
    auto r = c.get("/");
    ASSERT_EQ(r.status, 200);
    seen[json::parse(r.body)["upstream"]]++;
  }
  EXPECT_EQ(seen["a"], 25);
  EXPECT_EQ(seen["b"], 75);
}

TEST_F(ProxyServerTest, ConnectFailureMovesToAnotherTarget) {
  TestUpstream up("live");
  up.start();
  RefusingPort refusing;
  startProxy(1);
  publish(json::array({service("s", {{refusing.url(), 100}, {up.url(), 100}}, {{"retries", 1}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  HttpClient c = client();
  for (int i = 0; i < 6; ++i) {
    auto r = c.post("/", json{{"i", i}});  // even a POST: nothing was sent to the dead target
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body)["upstream"], "live");
  }
}

TEST_F(ProxyServerTest, HopByHopHeadersAreStrippedBothWays) {
  TestUpstream up;
  up.start();
  serveOne(up);
  HttpClient c = client();
  auto r = c.get(
      "/?header.Keep-Alive=timeout%3D5&header.X-Upstream-Secret=1&header.Connection=X-Upstream-"
      "Secret",
      {{"Connection", "X-Client-Secret"}, {"X-Client-Secret", "s"}, {"TE", "trailers"}});
  ASSERT_EQ(r.status, 200);
  json echo = json::parse(r.body);
  EXPECT_FALSE(echo["headers"].contains("x-client-secret"));
  EXPECT_FALSE(echo["headers"].contains("te"));
  EXPECT_FALSE(echo["headers"].contains("connection"));
  EXPECT_EQ(r.headerOr("Keep-Alive"), "");
  EXPECT_EQ(r.headerOr("X-Upstream-Secret"), "");
}

TEST_F(ProxyServerTest, PipelinedRequestsAreAnsweredInOrder) {
  TestUpstream up;
  up.start();
  serveOne(up, {{"strip_path", false}});
  std::string out =
      raw("GET /first?delay_ms=200 HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
          "GET /missing-host-third HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  auto first = out.find("\"path\":\"/first\"");
  auto second = out.find("\"path\":\"/second\"");
  auto third = out.find("\"path\":\"/missing-host-third\"");
  ASSERT_NE(first, std::string::npos) << out;
  ASSERT_NE(second, std::string::npos) << out;
  ASSERT_NE(third, std::string::npos) << out;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

TEST_F(ProxyServerTest, ExpectContinueIsAnswered) {
  TestUpstream up;
  up.start();
  serveOne(up);
  asio::io_context io;
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), proxy_->port()));
  asio::write(socket,
              asio::buffer(std::string("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                                       "Expect: 100-continue\r\n\r\n")));
  asio::streambuf buf;
  asio::read_until(socket, buf, "\r\n\r\n");
  std::string interim(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0U) << interim;
  buf.consume(buf.size());
  asio::write(socket, asio::buffer(std::string("hello")));
  asio::read_until(socket, buf, "\"body_bytes\":5");
}

TEST_F(ProxyServerTest, ClientLimitsAnswer431And413And400) {
  TestUpstream up;
  up.start();
  ProxyOptions options;
  options.max_header_bytes = 4096;
  options.max_body_bytes = 1000;
  startProxy(1, options);
  publish(json::array({service("s", {{up.url(), 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  std::string big_header =
      "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(8000, 'a') + "\r\n\r\n";
  EXPECT_EQ(raw(big_header).rfind("HTTP/1.1 431 ", 0), 0U);
  std::string big_body = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
  EXPECT_EQ(raw(big_body).rfind("HTTP/1.1 413 ", 0), 0U);
  std::string chunked_big = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                            std::string("7d0\r\n") + std::string(2000, 'b') + "\r\n0\r\n\r\n";
  EXPECT_EQ(raw(chunked_big).rfind("HTTP/1.1 413 ", 0), 0U);
  EXPECT_EQ(raw("GARBAGE\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0U);
  EXPECT_EQ(raw("GET / HTTP/1.1\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0U);  // no Host
  EXPECT_EQ(raw("GET /../x HTTP/1.1\r\nHost: x\r\n\r\n").rfind("HTTP/1.1 400 ", 0), 0U);
  std::string smuggle =
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
      "0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string answer = raw(smuggle);
  EXPECT_EQ(answer.find("/smuggled"), std::string::npos) << answer;
  EXPECT_EQ(HttpClient("127.0.0.1", proxy_->port()).get("/").status, 200);
}

TEST_F(ProxyServerTest, SlowHeadersGet408AndIdleConnectionsClose) {
  ProxyOptions options;
  options.header_timeout = std::chrono::milliseconds(300);
  options.idle_timeout = std::chrono::milliseconds(300);
  startProxy(1, options);
  publish(json::array({service("s", {{"http://127.0.0.1:9", 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/only"}}}}));
  const auto started = std::chrono::steady_clock::now();
  std::string slow = raw("GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ", std::chrono::seconds(3));
  EXPECT_EQ(slow.rfind("HTTP/1.1 408 ", 0), 0U) << slow;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2));
  // An idle keep-alive connection is closed without a word.
  std::string idle = raw("GET /x HTTP/1.1\r\nHost: x\r\n\r\n", std::chrono::seconds(3));
  EXPECT_EQ(idle.rfind("HTTP/1.1 404 ", 0), 0U);
  // (No 408 status line; a bare "408" may well be part of the random X-Request-Id.)
  EXPECT_EQ(idle.find("HTTP/1.1 408"), std::string::npos) << idle;
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
}

TEST_F(ProxyServerTest, AnUpstreamResetInALargeBodyCutsOnlyThatResponse) {
  // 1 MiB with Content-Length: past its first piece the body is spliced, socket to socket.
  TestUpstream up;
  up.start();
  serveOne(up);
  const std::string out = raw("GET /?size=1048576&reset=body HTTP/1.1\r\nHost: x\r\n\r\n");
  ASSERT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0U) << out.substr(0, 200);
  EXPECT_NE(out.find("Content-Length: 1048576\r\n"), std::string::npos);
  const std::size_t body = out.size() - (out.find("\r\n\r\n") + 4);
  EXPECT_GE(body, 512U * 1024) << "the half the upstream sent was passed on";
  EXPECT_LT(body, 1048576U) << "and the client sees a short body, then the close";
  test_support::Response whole = client().get("/?size=1048576");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body.size(), 1048576U);
}

TEST_F(ProxyServerTest, ALargeRequestBodyThatStopsGets408) {
  TestUpstream up;
  up.start();
  ProxyOptions options;
  options.client_io_timeout = std::chrono::milliseconds(300);
  startProxy(1, options);
  publish(json::array({service("s", {{up.url(), 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  const auto started = std::chrono::steady_clock::now();
  // 200 KiB of a promised 1 MiB: the first piece goes upstream with the head, the rest is being
  // spliced when the client stops.
  const std::string out =
      raw("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n" +
          std::string(200 * 1024, 'x'));
  EXPECT_EQ(out.rfind("HTTP/1.1 408 ", 0), 0U) << out.substr(0, 200);
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(3));
  EXPECT_EQ(client().get("/").status, 200) << "the worker serves on";
}

TEST_F(ProxyServerTest, Http10ClientsGetBodiesTheyCanRead) {
  TestUpstream up;
  up.start();
  serveOne(up);
  // A chunked upstream answer cannot be sent chunked to HTTP/1.0: the body ends at close.
  std::string out = raw("GET /?size=5&chunked=1 HTTP/1.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(out.rfind("HTTP/1.1 200 ", 0), 0U) << out;
  EXPECT_EQ(out.find("chunked"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\n01234"), std::string::npos) << out;
  // Keep-alive when asked for, with a length.
  std::string kept =
      raw("GET /?size=3 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
          "GET /?size=4 HTTP/1.0\r\n\r\n");
  EXPECT_NE(kept.find("Connection: keep-alive"), std::string::npos) << kept;
  EXPECT_NE(kept.find("\r\n\r\n012HTTP/1.1 200"), std::string::npos) << kept;
}

TEST_F(ProxyServerTest, StreamsLargeBodiesBothWays) {
  TestUpstream up;
  up.start();
  serveOne(up);
  HttpClient c = client();
  auto download = c.get("/?size=20000000");
  ASSERT_EQ(download.status, 200);
  EXPECT_EQ(download.body.size(), 20000000U);
  EXPECT_EQ(download.body.substr(0, 16), "0123456789abcdef");
  auto chunked_download = c.get("/?size=3000000&chunked=1");
  EXPECT_EQ(chunked_download.body.size(), 3000000U);
  std::string payload(20000000, 'z');
  auto upload = c.request("POST", "/", payload, {{"Content-Type", "application/octet-stream"}});
  ASSERT_EQ(upload.status, 200);
  EXPECT_EQ(json::parse(upload.body)["body_bytes"], 20000000);
  EXPECT_EQ(c.connectCount(), 1);
}

TEST_F(ProxyServerTest, HeadKeepsContentLengthWithoutBody) {
  TestUpstream up;
  up.start();
  serveOne(up);
  std::string out =
      raw("HEAD /?size=1234 HTTP/1.1\r\nHost: x\r\n\r\nGET /?size=3 HTTP/1.1\r\nHost: "
          "x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find("Content-Length: 1234\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\n\r\n012"), std::string::npos) << out;  // the GET follows right away
}

TEST_F(ProxyServerTest, ANewSnapshotChangesRoutingForTheNextRequest) {
  TestUpstream a("a"), b("b");
  a.start();
  b.start();
  startProxy(2);
  publish(json::array({service("s", {{a.url(), 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  HttpClient c = client();
  EXPECT_EQ(json::parse(c.get("/").body)["upstream"], "a");
  publish(json::array({service("s", {{b.url(), 100}})}),
          json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  for (const auto& served : registry_.servedVersions()) {
    EXPECT_EQ(served.version, registry_.version())
        << served.worker;  // nudged, not waiting for traffic
  }
  EXPECT_EQ(json::parse(c.get("/").body)["upstream"], "b");
}

// Snapshots published in a tight loop while two workers serve: every request is answered by a
// complete snapshot (one of the two configurations, never a torn mix), and nothing crashes. Run
// under TSan by scripts/test.
TEST_F(ProxyServerTest, PublishingInATightLoopWhileServing) {
  TestUpstream a("a"), b("b");
  a.start();
  b.start();
  startProxy(2);
  auto config = [&](const TestUpstream& up) {
    return buildSnapshot(json::array({service("s", {{up.url(), 100}})}),
                         json::array({{{"service", "s"}, {"paths", {"/"}}}}));
  };
  ASSERT_TRUE(registry_.publish(config(a)));
  std::atomic<bool> done{false};
  std::thread publisher([&] {
    for (int i = 0; i < 200; ++i) {
      registry_.publish(config(i % 2 ? a : b));
      registry_.collectRetired();
    }
    done = true;
  });
  std::atomic<int> ok{0}, bad{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 2; ++t) {
    clients.emplace_back([&] {
      HttpClient c = client();
      while (!done || ok < 20) {
        auto r = c.get("/");
        if (r.status == 200) {
          ++ok;
        } else {
          ++bad;
        }
      }
    });
  }
  publisher.join();
  for (auto& t : clients) t.join();
  EXPECT_EQ(bad, 0);
  EXPECT_GE(ok, 20);
  EXPECT_GT(a.requestsServed() + b.requestsServed(), 0U);
}

TEST_F(ProxyServerTest, MetricsCountRequestsByRouteAndStatus) {
  TestUpstream up;
  up.start();
  startProxy(2);
  publish(json::array({service("s", {{up.url(), 100}})}),
          json::array({{{"name", "api"}, {"service", "s"}, {"paths", {"/api"}}}}));
  HttpClient c = client();
  for (int i = 0; i < 3; ++i) c.get("/api");
  c.get("/nothing");
  // A request is counted once its answer is out: the client may read it a moment earlier.
  std::string text;
  EXPECT_TRUE(test_support::eventually([&] {
    text = proxy_->metricsText();
    return text.find("turnpike_http_requests_total{route=\"api\",status=\"200\"} 3") !=
               std::string::npos &&
           text.find("turnpike_http_requests_total{route=\"\",status=\"404\"} 1") !=
               std::string::npos;
  })) << text;
}

TEST_F(ProxyServerTest, ADeletedRoutesSeriesLeaveMetrics) {
  TestUpstream up;
  up.start();
  startProxy(2);
  const json services = json::array({service("s", {{up.url(), 100}})});
  publish(services, json::array({{{"name", "api"}, {"service", "s"}, {"paths", {"/api"}}},
                                 {{"name", "old"}, {"service", "s"}, {"paths", {"/old"}}}}));
  HttpClient c = client();
  c.get("/api");
  c.get("/old");
  std::string text;
  ASSERT_TRUE(test_support::eventually([&] {
    text = proxy_->metricsText();
    return text.find("turnpike_http_requests_total{route=\"old\",status=\"200\"} 1") !=
           std::string::npos;
  })) << text;

  publish(services, json::array({{{"name", "api"}, {"service", "s"}, {"paths", {"/api"}}}}));
  // Workers forget deleted routes on their next one-second sweep.
  EXPECT_TRUE(test_support::eventually([&] {
    text = proxy_->metricsText();
    return text.find("route=\"old\"") == std::string::npos;
  })) << text;
  EXPECT_NE(text.find("turnpike_http_requests_total{route=\"api\",status=\"200\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(c.get("/api").status, 200);
}

TEST_F(ProxyServerTest, StopDrainsAnInFlightRequest) {
  TestUpstream up;
  up.start();
  serveOne(up);
  int status = 0;
  std::thread request([&] { status = client().get("/?delay_ms=500").status; });
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  proxy_->stop();  // returns once the slow request is answered
  request.join();
  EXPECT_EQ(status, 200);
  EXPECT_EQ(proxy_->openConnections(), 0);
}

}  // namespace
}  // namespace turnpike::proxy
