// How configuration and observations travel, through the real binary with two proxy workers:
// GET /status shows every worker serving the stored version shortly after a write, a second
// process on the same database file serves routes written through the first one's admin API,
// and the access log (standard output by default) holds one JSON line per proxied request.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
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

// The access log lines (JSON objects) among a process's standard output.
std::vector<json> accessLogLines(const std::string& stdout_text) {
  std::vector<json> lines;
  std::istringstream in(stdout_text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() != '{') continue;
    json entry = json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (entry.is_object() && entry.contains("request_id")) lines.push_back(std::move(entry));
  }
  return lines;
}

class ProxyPropagationTest : public ProxySuiteTest {
 public:
  static void SetUpTestSuite() {
    // The access log keeps its default: standard output.
    startSuite({.extra_args = {"--workers", "2"}});
  }

 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    upstream_.start();
  }

  // Creates a service (upstream_) and a route for host_ through `admin`; returns the route's
  // name. `query` is appended to both POSTs (e.g. "?wait_for_proxy=true").
  std::string serveUpstream(HttpClient& admin, const std::string& query = "") {
    const std::string service = uniqueName("svc");
    Response s =
        admin.post("/services" + query,
                   {{"name", service}, {"targets", {{{"url", upstream_.url()}, {"weight", 100}}}}});
    EXPECT_EQ(s.status, 201) << s;
    const std::string route = uniqueName("route");
    Response r =
        admin.post("/routes" + query, {{"name", route}, {"service", service}, {"hosts", {host_}}});
    EXPECT_EQ(r.status, 201) << r;
    return route;
  }

  // A client of another process's proxy port sending `Host: host_`.
  HttpClient proxyAt(uint16_t port) {
    HttpClient client("127.0.0.1", port, std::chrono::seconds(5));
    client.setDefaultHeader("Host", host_);
    return client;
  }

  TestUpstream upstream_{"propagation"};
};

TEST_F(ProxyPropagationTest, StatusShowsEveryWorkerServingTheStoredVersionAfterAWrite) {
  Response written =
      admin().post("/services", {{"name", uniqueName("svc")},
                                 {"targets", {{{"url", "http://127.0.0.1:9"}, {"weight", 100}}}}});
  ASSERT_EQ(written.status, 201) << written;
  const int64_t version = std::stoll(written.headerOr("X-Config-Version", "-1"));
  ASSERT_GT(version, 0) << written;

  json last;
  const auto started = Clock::now();
  const bool caught_up = eventually(
      [&] {
        last = admin().get("/status").json();
        if (!last.is_object() || last.value("config_version", int64_t{-1}) < version) {
          return false;
        }
        const json& workers = last["proxy"]["workers"];
        if (!workers.is_array() || workers.empty()) return false;
        for (const json& w : workers) {
          if (w.value("version", int64_t{-1}) < version) return false;
        }
        return true;
      },
      milliseconds(2000));
  ASSERT_TRUE(caught_up) << "GET /status never showed version " << version
                         << " served everywhere: " << last.dump();
  EXPECT_LT(Clock::now() - started, milliseconds(1000)) << "propagation should take milliseconds";
  EXPECT_EQ(last["proxy"]["workers"].size(), 2U) << "--workers 2: " << last.dump();
  EXPECT_EQ(last["proxy"]["served_version"], last["config_version"]) << last.dump();
  EXPECT_EQ(last["proxy"]["in_sync"], true) << last.dump();
  EXPECT_TRUE(last["proxy"]["last_build"]["error"].is_null()) << last.dump();
}

TEST_F(ProxyPropagationTest, ASecondProcessOnTheSameDatabaseServesTheFirstOnesRoutes) {
  TurnpikeProcess second(ProcessOptions{.admin_token = process().token(),
                                        .extra_args = {"--workers", "2", "--access-log", "off"},
                                        .db_path = process().dbPath()});
  ASSERT_TRUE(second.start());
  HttpClient via_second = proxyAt(second.proxyPort());
  EXPECT_EQ(via_second.get("/").status, 404) << "no route for this host yet";

  serveUpstream(admin());  // through the first process's admin API, no waiting
  const auto written = Clock::now();
  Response last;
  const bool served =
      eventually([&] { return (last = via_second.get("/")).status == 200; }, milliseconds(3000));
  ASSERT_TRUE(served) << "the second process never served the route; last answer:\n" << last;
  EXPECT_LT(Clock::now() - written, milliseconds(1000))
      << "a commit by another process should reach this one within a second";
  EXPECT_EQ(last.json().value("upstream", ""), "propagation");
  // Both processes show the same stored version.
  json first_status = admin().get("/status").json();
  json second_status = second.adminClient().get("/status").json();
  EXPECT_EQ(first_status.value("config_version", int64_t{-1}),
            second_status.value("config_version", int64_t{-2}));
}

TEST_F(ProxyPropagationTest, AccessLogHasOneJsonLinePerProxiedRequest) {
  const std::string route = serveUpstream(admin(), "?wait_for_proxy=true");
  const std::string run = uniqueName("alog");
  HttpClient c = proxy();
  std::map<std::string, int> expected_status;  // request id -> status
  for (int i = 0; i < 3; ++i) {
    const std::string id = run + "-ok-" + std::to_string(i);
    Response r = c.get("/items/" + std::to_string(i), {{"X-Request-Id", id}});
    EXPECT_EQ(r.status, 200) << r;
    expected_status[id] = 200;
  }
  const std::string teapot = run + "-teapot";
  EXPECT_EQ(c.get("/?status=418", {{"X-Request-Id", teapot}}).status, 418);
  expected_status[teapot] = 418;
  HttpClient nowhere("127.0.0.1", process().proxyPort());
  nowhere.setDefaultHeader("Host", "nowhere." + host_);
  const std::string missing = run + "-missing";
  EXPECT_EQ(nowhere.get("/", {{"X-Request-Id", missing}}).status, 404);
  expected_status[missing] = 404;
  // An id the proxy made itself is logged too: the one the client got back.
  const std::string generated = c.get("/generated").headerOr("X-Request-Id");
  ASSERT_FALSE(generated.empty());
  expected_status[generated] = 200;

  // The log is written asynchronously and flushed at least every second.
  std::map<std::string, std::vector<json>> by_id;
  eventually(
      [&] {
        by_id.clear();
        for (json& line : accessLogLines(process().stdoutText())) {
          const std::string id = line.value("request_id", "");
          if (expected_status.count(id)) by_id[id].push_back(std::move(line));
        }
        return by_id.size() == expected_status.size();
      },
      milliseconds(3000));
  for (const auto& [id, status] : expected_status) {
    ASSERT_EQ(by_id[id].size(), 1U) << "access log lines for request " << id << ":\n"
                                    << process().stdoutText().substr(0, 4000);
    const json& line = by_id[id].front();
    EXPECT_EQ(line.value("status", 0), status) << line.dump();
    EXPECT_EQ(line.value("route", "?"), status == 404 ? "" : route) << line.dump();
    EXPECT_EQ(line.value("method", ""), "GET") << line.dump();
    EXPECT_TRUE(line.contains("time") && line["time"].is_string()) << line.dump();
  }
  EXPECT_EQ(by_id[run + "-ok-1"].front().value("path", ""), "/items/1");
  EXPECT_EQ(by_id[run + "-ok-1"].front().value("host", ""), host_);
  EXPECT_EQ(by_id[run + "-ok-1"].front().value("target", ""), upstream_.url());
}

}  // namespace
}  // namespace turnpike::test_support
