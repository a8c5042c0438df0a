#include "tests/support/proxy_fixture.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace turnpike::test_support {

using nlohmann::json;

void ProxySuiteTest::SetUpTestSuite() {
  startSuite({.extra_args = {"--workers", "1", "--access-log", "off"}});
}

void ProxySuiteTest::SetUp() {
  AdminSuiteTest::SetUp();
  host_ = uniqueName("px") + ".example.test";
}

json ProxySuiteTest::create(const std::string& collection, const json& body, int expected) {
  Response r = admin().post(collection + "?wait_for_proxy=true", body);
  EXPECT_EQ(r.status, expected) << "POST " << collection << " " << body.dump() << "\n" << r;
  return r.json();
}

std::string ProxySuiteTest::service(const std::string& url, json fields) {
  std::string name = uniqueName("svc");
  fields["name"] = name;
  fields["targets"] = {{{"url", url}, {"weight", 100}}};
  create("/services", fields);
  return name;
}

std::string ProxySuiteTest::route(const std::string& service, json fields) {
  std::string name = uniqueName("route");
  fields["name"] = name;
  fields["service"] = service;
  if (!fields.contains("hosts")) fields["hosts"] = {host_};
  create("/routes", fields);
  return name;
}

HttpClient ProxySuiteTest::proxy(const std::string& host, std::chrono::milliseconds timeout) {
  HttpClient client("127.0.0.1", process().proxyPort(), timeout);
  client.setDefaultHeader("Host", host.empty() ? host_ : host);
  return client;
}

std::string ProxySuiteTest::servedBy(const Response& r) {
  json echo = r.json();
  if (r.status != 200 || !echo.is_object()) return "HTTP " + std::to_string(r.status);
  return echo.value("upstream", "?");
}

::testing::AssertionResult ProxySuiteTest::isProxyProblem(const Response& r, int status) {
  if (auto problem = isProblem(r, status); !problem) return problem;
  if (r.headerOr("X-Request-Id").empty()) {
    return ::testing::AssertionFailure() << "no X-Request-Id:\n" << r;
  }
  return ::testing::AssertionSuccess();
}

bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

RefusingPort::RefusingPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "cannot bind a loopback port";
  }
  port_ = ntohs(addr.sin_port);
}

RefusingPort::~RefusingPort() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace turnpike::test_support
