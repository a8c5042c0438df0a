// ProxySuiteTest: AdminSuiteTest for suites that send traffic through the proxy port: one
// `turnpike serve --workers 1 --access-log off` per suite, a host name unique to each test, and
// the helpers those suites share. Also RefusingPort and eventually(), for tests of failures.
//
//   class ProxyRoutingTest : public ProxySuiteTest {};
//   TEST_F(ProxyRoutingTest, Forwards) {
//     TestUpstream up("a");
//     up.start();
//     route(service(up.url()), {{"paths", {"/a"}}});  // for host_, the proxy serves it on return
//     EXPECT_EQ(servedBy(proxy().get("/a")), "a");
//   }
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {

class ProxySuiteTest : public AdminSuiteTest {
 public:
  static void SetUpTestSuite();

 protected:
  void SetUp() override;  // also picks host_

  // POST `collection`?wait_for_proxy=true, so the proxy serves the change on return; expects
  // `expected` and returns the answer's body.
  nlohmann::json create(const std::string& collection, const nlohmann::json& body,
                        int expected = 201);
  // A service with `url` as its only target (weight 100) and `fields`; returns its name.
  std::string service(const std::string& url, nlohmann::json fields = nlohmann::json::object());
  // A route to `service` with `fields` (a unique name added; hosts [host_] unless `fields` has
  // hosts); returns its name.
  std::string route(const std::string& service, nlohmann::json fields = nlohmann::json::object());

  // A client of the proxy port sending `Host: host` (host_ when empty).
  HttpClient proxy(const std::string& host = "",
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Which TestUpstream answered (the echo's "upstream"), or "HTTP <status>" for anything else.
  static std::string servedBy(const Response& r);
  // A problem+json answer of Turnpike's own, with its X-Request-Id.
  static ::testing::AssertionResult isProxyProblem(const Response& r, int status);

  std::string host_;  // "<unique>.example.test": the test's own routes match only it
};

// Polls `condition` every 10 ms until it holds or `timeout` passes; returns whether it held.
bool eventually(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout = std::chrono::seconds(5));

// A loopback port bound but not listening: connecting to it is refused, and nobody else can take
// it while the object lives (a fixed "dead" port such as 1 or 9 may be in use on the machine).
class RefusingPort {
 public:
  RefusingPort();
  ~RefusingPort();
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_;
  uint16_t port_ = 0;
};

}  // namespace turnpike::test_support
