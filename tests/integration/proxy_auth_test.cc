// Consumers' access through the real binary (API.md: routes' `auth`, `allow_groups`,
// `rate_limit_policies`; /consumers/{c}/keys; "The proxy's own answers"): API keys issued through
// the admin API open routes, revoked or expired ones do not, groups gate routes, and rate-limit
// policies answer 429 with RateLimit-* and Retry-After.
//
// Every test uses its own host name, so tests sharing the suite's process never meet.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;

class ProxyAuthTest : public ProxySuiteTest {
 public:
  static void SetUpTestSuite() {
    startSuite({.extra_args = {"--workers", "2", "--access-log", "off"}});
    upstream_ = std::make_unique<TestUpstream>("orders");
    upstream_->start();
  }
  static void TearDownTestSuite() {
    ProxySuiteTest::TearDownTestSuite();
    upstream_.reset();
  }

 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    service_ = service(upstream_->url());
  }

  // A route on this test's host to its service; `fields` adds auth, groups, policies.
  std::string route(json fields) { return ProxySuiteTest::route(service_, std::move(fields)); }
  std::string consumer(json groups = json::array()) {
    std::string name = uniqueName("user");
    create("/consumers", {{"username", name}, {"groups", groups}});
    return name;
  }
  // Issues a key; returns {id, key}.
  std::pair<std::string, std::string> issueKey(const std::string& consumer,
                                               json body = json::object()) {
    json created = create("/consumers/" + consumer + "/keys", body);
    return {created.value("id", ""), created.value("key", "")};
  }

  static inline std::unique_ptr<TestUpstream> upstream_;
  std::string service_;
};

TEST_F(ProxyAuthTest, KeyLifecycleCreateCallRevoke) {
  route({{"paths", {"/orders"}}, {"auth", {{"type", "api_key"}, {"key_names", {"apikey"}}}}});
  const std::string user = consumer({"partners", "beta"});
  auto [key_id, key] = issueKey(user);
  ASSERT_EQ(key.rfind("tpk_", 0), 0U);
  HttpClient c = proxy();

  Response missing = c.get("/orders");
  EXPECT_EQ(missing.status, 401) << missing;
  EXPECT_EQ(missing.headerOr("WWW-Authenticate"), "ApiKey");
  EXPECT_EQ(missing.headerOr("Content-Type"), "application/problem+json");
  EXPECT_FALSE(missing.headerOr("X-Request-Id").empty());
  EXPECT_EQ(c.get("/orders", {{"apikey", "tpk_not-a-key-that-exists-anywhere-00000"}}).status, 401);

  // A client cannot pose as a consumer: its X-Consumer-* headers are replaced.
  Response ok = c.get("/orders", {{"apikey", key}, {"X-Consumer-Username", "admin"}});
  ASSERT_EQ(ok.status, 200) << ok;
  json seen = ok.json()["headers"];
  EXPECT_EQ(seen["x-consumer-username"], user);
  EXPECT_FALSE(seen.value("x-consumer-id", "").empty());
  EXPECT_EQ(seen["x-consumer-groups"], "partners,beta");
  EXPECT_EQ(seen["apikey"], key);  // hide_credentials is off: the upstream sees the key

  Response revoked = admin().del("/consumers/" + user + "/keys/" + key_id + "?wait_for_proxy=true");
  ASSERT_EQ(revoked.status, 204) << revoked;
  EXPECT_EQ(c.get("/orders", {{"apikey", key}}).status, 401);
}

TEST_F(ProxyAuthTest, QueryStringKeysAndHideCredentials) {
  route({{"paths", {"/q"}},
         {"auth",
          {{"type", "api_key"},
           {"key_names", {"x-api-key", "apikey"}},
           {"hide_credentials", true}}}});
  const std::string user = consumer();
  auto [key_id, key] = issueKey(user);
  HttpClient c = proxy();
  Response by_query = c.get("/q?a=1&apikey=" + key + "&b=2");
  ASSERT_EQ(by_query.status, 200) << by_query;
  EXPECT_EQ(by_query.json()["query"], "a=1&b=2");  // the key never reaches the upstream
  Response by_header = c.get("/q", {{"X-Api-Key", key}});
  ASSERT_EQ(by_header.status, 200) << by_header;
  EXPECT_FALSE(by_header.json()["headers"].contains("x-api-key"));
  EXPECT_EQ(by_header.json()["headers"]["x-consumer-username"], user);
}

TEST_F(ProxyAuthTest, ExpiredKeysAreRefused) {
  route({{"paths", {"/exp"}}, {"auth", {{"type", "api_key"}}}});
  const std::string user = consumer();
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  // The admin API refuses a key that is already expired; this one expires in two seconds.
  auto [soon_id, soon_key] = issueKey(user, {{"expires_at", now + 2}});
  HttpClient c = proxy();
  EXPECT_EQ(c.get("/exp", {{"apikey", soon_key}}).status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(3100));
  Response expired = c.get("/exp", {{"apikey", soon_key}});
  EXPECT_EQ(expired.status, 401);
  EXPECT_NE(expired.body.find("expired"), std::string::npos) << expired;
}

TEST_F(ProxyAuthTest, AllowGroupsGateARoute) {
  route(
      {{"paths", {"/partners"}}, {"auth", {{"type", "api_key"}}}, {"allow_groups", {"partners"}}});
  auto [p_id, partner_key] = issueKey(consumer({"partners"}));
  auto [o_id, other_key] = issueKey(consumer({"public"}));
  HttpClient c = proxy();
  EXPECT_EQ(c.get("/partners", {{"apikey", partner_key}}).status, 200);
  Response forbidden = c.get("/partners", {{"apikey", other_key}});
  EXPECT_EQ(forbidden.status, 403) << forbidden;
  EXPECT_EQ(forbidden.headerOr("Content-Type"), "application/problem+json");
}

TEST_F(ProxyAuthTest, RateLimitAnswers429WithHeadersAndAnEditKeepsTheCount) {
  const std::string policy = uniqueName("tier");
  create("/rate-limit-policies", {{"name", policy},
                                  {"limit", 3},
                                  {"window_s", 3600},
                                  {"algorithm", "fixed_window"},
                                  {"key_by", "consumer"}});
  route({{"paths", {"/limited"}},
         {"auth", {{"type", "api_key"}}},
         {"rate_limit_policies", {policy}}});
  auto [key_id, key] = issueKey(consumer());
  HttpClient c = proxy();
  for (int i = 0; i < 3; ++i) {
    Response r = c.get("/limited", {{"apikey", key}});
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.headerOr("RateLimit-Limit"), "3");
    EXPECT_EQ(r.headerOr("RateLimit-Remaining"), std::to_string(2 - i));
    EXPECT_FALSE(r.headerOr("RateLimit-Reset").empty());
  }
  Response refused = c.get("/limited", {{"apikey", key}});
  EXPECT_EQ(refused.status, 429) << refused;
  EXPECT_GE(std::stoi(refused.headerOr("Retry-After", "0")), 1);
  EXPECT_EQ(refused.headerOr("RateLimit-Remaining"), "0");
  EXPECT_EQ(refused.headerOr("Content-Type"), "application/problem+json");

  // Raising the limit keeps the count: exactly one more request passes.
  Response edited =
      admin().patch("/rate-limit-policies/" + policy + "?wait_for_proxy=true", {{"limit", 4}});
  ASSERT_EQ(edited.status, 200) << edited;
  EXPECT_EQ(c.get("/limited", {{"apikey", key}}).status, 200);
  EXPECT_EQ(c.get("/limited", {{"apikey", key}}).status, 429);

  // Another consumer has its own count.
  auto [other_id, other_key] = issueKey(consumer());
  EXPECT_EQ(c.get("/limited", {{"apikey", other_key}}).status, 200);
}

TEST_F(ProxyAuthTest, ConsumerPoliciesCountToo) {
  const std::string policy = uniqueName("per-consumer");
  create("/rate-limit-policies", {{"name", policy},
                                  {"limit", 2},
                                  {"window_s", 3600},
                                  {"algorithm", "sliding_window"},
                                  {"key_by", "consumer"}});
  route({{"paths", {"/c"}}, {"auth", {{"type", "api_key"}}}});
  const std::string user = uniqueName("user");
  create("/consumers", {{"username", user}, {"rate_limit_policies", {policy}}});
  auto [key_id, key] = issueKey(user);
  HttpClient c = proxy();
  EXPECT_EQ(c.get("/c", {{"apikey", key}}).status, 200);
  EXPECT_EQ(c.get("/c", {{"apikey", key}}).status, 200);
  EXPECT_EQ(c.get("/c", {{"apikey", key}}).status, 429);
}

TEST_F(ProxyAuthTest, TheDatabaseNeverHoldsAPlaintextKey) {
  route({{"paths", {"/db"}}, {"auth", {{"type", "api_key"}}}});
  const std::string user = consumer();
  auto [generated_id, generated] = issueKey(user);
  const std::string supplied = "migrated-key-from-kong-" + uniqueName("k");
  auto [supplied_id, supplied_echo] = issueKey(user, {{"key", supplied}});
  EXPECT_EQ(supplied_echo, supplied);
  HttpClient c = proxy();
  EXPECT_EQ(c.get("/db", {{"apikey", supplied}}).status, 200);
  for (const std::string suffix : {"", "-wal"}) {
    std::ifstream file(process().dbPath() + suffix, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes.find(generated), std::string::npos) << "plaintext key in turnpike.db" << suffix;
    EXPECT_EQ(bytes.find(supplied), std::string::npos) << "plaintext key in turnpike.db" << suffix;
  }
}

}  // namespace
}  // namespace turnpike::test_support
