// Aggregate routes through the real binary (API.md, "aggregate"): one client call fans out to
// every backend in parallel on the worker's upstream pools, and the JSON answers come back merged
// in the listed order. Real upstreams (TestUpstream echo servers) play the backends; their query
// parameters make one slow (delay_ms) or failing (status), a RefusingPort one that is down.
#include <gtest/gtest.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using test::TestUpstream;

class ProxyAggregateTest : public ProxySuiteTest {
 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    users_.start();
    orders_.start();
    profile_.start();
    users_service_ = service(users_.url());
    orders_service_ = service(orders_.url());
    profile_service_ = service(profile_.url());
  }

  // An aggregate route on this test's host; returns its name.
  std::string aggregateRoute(const json& paths, const json& backends,
                             json fields = json::object()) {
    std::string name = uniqueName("aggregate");
    fields["name"] = name;
    fields["hosts"] = {host_};
    fields["paths"] = paths;
    fields["aggregate"]["backends"] = backends;
    create("/routes", fields);
    return name;
  }

  TestUpstream users_{"users"};
  TestUpstream orders_{"orders"};
  TestUpstream profile_{"profile"};
  std::string users_service_;
  std::string orders_service_;
  std::string profile_service_;
};

TEST_F(ProxyAggregateTest, ThreeBackendsAreMergedUnderTheirGroupsAndAtTheTop) {
  aggregateRoute({"/account/{id}"}, {{{"service", users_service_},
                                      {"path", "/users/{id}"},
                                      {"group", "user"},
                                      {"required", true},
                                      {"json", {{"allow", {"path", "upstream", "headers"}}}}},
                                     {{"service", orders_service_},
                                      {"path", "/orders?user=me"},
                                      {"method", "post"},
                                      {"group", "orders"}},
                                     {{"service", profile_service_}, {"path", "/profiles/{id}"}}});
  Response r = proxy().get("/account/42", {{"Cookie", "not=passed"}});
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.headerOr("X-Turnpike-Complete"), "true");
  EXPECT_EQ(r.headerOr("Content-Type"), "application/json");
  EXPECT_TRUE(r.hasHeader("X-Request-Id"));
  const json body = r.json();
  ASSERT_TRUE(body.is_object()) << r;
  const json& user = body["user"];
  EXPECT_EQ(user.value("path", ""), "/users/42");
  EXPECT_EQ(user.value("upstream", ""), "users");
  EXPECT_FALSE(user.contains("method")) << "the backend's json.allow applies";
  EXPECT_FALSE(user["headers"].contains("cookie")) << "client fields are not passed on";
  EXPECT_EQ(user["headers"].value("x-request-id", ""), r.headerOr("X-Request-Id"));
  EXPECT_EQ(body["orders"].value("path", ""), "/orders");
  EXPECT_EQ(body["orders"].value("query", ""), "user=me");
  EXPECT_EQ(body["orders"].value("method", ""), "POST");
  EXPECT_EQ(body["orders"]["headers"].value("content-length", ""), "0") << "a bodiless POST";
  // The ungrouped backend's members are at the top.
  EXPECT_EQ(body.value("upstream", ""), "profile");
  EXPECT_EQ(body.value("path", ""), "/profiles/42");
}

TEST_F(ProxyAggregateTest, TheListedOrderDecidesCollisionsNotTheArrivalOrder) {
  // Both ungrouped: both answer "upstream" and "path". users answers 150 ms later, but profile
  // is listed last and wins.
  aggregateRoute({"/merge"}, {{{"service", users_service_}, {"path", "/u?delay_ms=150"}},
                              {{"service", profile_service_}, {"path", "/p"}}});
  for (int i = 0; i < 3; ++i) {
    Response r = proxy().get("/merge");
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.json().value("upstream", ""), "profile");
    EXPECT_EQ(r.json().value("path", ""), "/p");
  }
}

TEST_F(ProxyAggregateTest, AnOptionalBackendPastItsTimeoutLeavesAnIncompleteAnswer) {
  aggregateRoute(
      {"/partial"},
      {{{"service", users_service_}, {"path", "/u"}, {"group", "user"}, {"required", true}},
       {{"service", orders_service_},
        {"path", "/o?delay_ms=2000"},
        {"group", "orders"},
        {"timeout_ms", 200}},
       {{"service", profile_service_}, {"path", "/p?status=500"}, {"group", "profile"}}});
  const auto started = std::chrono::steady_clock::now();
  Response r = proxy().get("/partial");
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.headerOr("X-Turnpike-Complete"), "false");
  EXPECT_LT(took, milliseconds(1500)) << "the slow backend's timeout_ms bounds the answer";
  const json body = r.json();
  EXPECT_EQ(body["user"].value("upstream", ""), "users");
  EXPECT_FALSE(body.contains("orders")) << "timed out";
  EXPECT_FALSE(body.contains("profile")) << "answered 500";
}

TEST_F(ProxyAggregateTest, ARequiredBackendDownIs502ListingIt) {
  RefusingPort down;
  const std::string down_service = service(down.url());
  aggregateRoute({"/down"}, {{{"service", users_service_}, {"path", "/u"}, {"group", "user"}},
                             {{"service", down_service}, {"path", "/d"}, {"required", true}}});
  Response r = proxy().get("/down");
  ASSERT_TRUE(isProxyProblem(r, 502)) << r;
  const json body = r.json();
  EXPECT_NE(body.value("detail", "").find(down_service), std::string::npos) << body;
  ASSERT_TRUE(body["backends"].is_array()) << body;
  ASSERT_EQ(body["backends"].size(), 1u) << body;
  EXPECT_EQ(body["backends"][0].value("service", ""), down_service);
  EXPECT_EQ(body["backends"][0].value("required", false), true);
  EXPECT_NE(body["backends"][0].value("error", "").find("cannot connect"), std::string::npos);
}

TEST_F(ProxyAggregateTest, TimeoutsOfWhatDecidesAre504AndAllFailingIs502) {
  aggregateRoute({"/slow"}, {{{"service", users_service_},
                              {"path", "/u?delay_ms=2000"},
                              {"required", true},
                              {"timeout_ms", 150}},
                             {{"service", profile_service_}, {"path", "/p"}, {"group", "p"}}});
  Response slow = proxy().get("/slow");
  EXPECT_TRUE(isProxyProblem(slow, 504)) << slow;
  EXPECT_EQ(slow.json()["backends"][0].value("timed_out", false), true) << slow;

  aggregateRoute({"/broken"}, {{{"service", users_service_}, {"path", "/u?status=503"}},
                               {{"service", profile_service_}, {"path", "/p?garbage=1"}}});
  Response broken = proxy().get("/broken");
  EXPECT_TRUE(isProxyProblem(broken, 502)) << broken;
  EXPECT_EQ(broken.json()["backends"].size(), 2u) << broken;
}

TEST_F(ProxyAggregateTest, KeyAuthAppliesOnceAndConsumerHeadersReachEveryBackend) {
  aggregateRoute({"/mine"},
                 {{{"service", users_service_}, {"path", "/u"}, {"group", "user"}},
                  {{"service", orders_service_}, {"path", "/o"}, {"group", "orders"}}},
                 {{"auth", {{"type", "api_key"}}},
                  {"request_transform", {{"set_headers", {{"x-aggregate", "mine"}}}}}});
  const uint64_t served = users_.requestsServed() + orders_.requestsServed();
  Response anonymous = proxy().get("/mine");
  EXPECT_TRUE(isProxyProblem(anonymous, 401)) << anonymous;
  EXPECT_EQ(users_.requestsServed() + orders_.requestsServed(), served)
      << "refused before any backend is called";

  const std::string consumer = uniqueName("user");
  create("/consumers", {{"username", consumer}});
  const std::string key = create("/consumers/" + consumer + "/keys", json::object())["key"];
  Response r = proxy().get("/mine", {{"apikey", key}});
  ASSERT_EQ(r.status, 200) << r;
  const json body = r.json();
  for (const char* group : {"user", "orders"}) {
    ASSERT_TRUE(body.contains(group) && body[group].is_object()) << r;
    const json& headers = body[group]["headers"];
    EXPECT_EQ(headers.value("x-consumer-username", ""), consumer) << group;
    EXPECT_EQ(headers.value("x-aggregate", ""), "mine") << group;
    EXPECT_FALSE(headers.contains("apikey")) << group;
  }
}

TEST_F(ProxyAggregateTest, AServiceAnAggregateUsesCannotBeDeleted) {
  const std::string route =
      aggregateRoute({"/keep"}, {{{"service", users_service_}, {"path", "/u"}, {"group", "user"}}});
  Response r = admin().del("/services/" + users_service_);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_NE(r.json().value("detail", "").find(route), std::string::npos) << r;

  json stored = mustGet("/routes/" + route);
  EXPECT_TRUE(stored["service"].is_null());
  EXPECT_EQ(stored["aggregate"]["backends"][0].value("service", ""),
            mustGet("/services/" + users_service_).value("id", ""))
      << "stored by id";
}

TEST_F(ProxyAggregateTest, RouteParametersFillBackendQueriesEncoded) {
  aggregateRoute(
      {"/account/{id}"},
      {{{"service", users_service_}, {"path", "/users/{id}?expand=orders"}, {"group", "user"}},
       {{"service", orders_service_}, {"path", "/orders?user={id}&page=1"}, {"group", "orders"}}});
  Response plain = proxy().get("/account/42");
  ASSERT_EQ(plain.status, 200) << plain;
  EXPECT_EQ(plain.json()["orders"].value("query", ""), "user=42&page=1");
  EXPECT_EQ(plain.json()["user"].value("path", ""), "/users/42");

  // Query delimiters in the value stay inside the one parameter; a client's own escapes are
  // not escaped twice.
  Response tricky = proxy().get("/account/a&page=9%20x");
  ASSERT_EQ(tricky.status, 200) << tricky;
  EXPECT_EQ(tricky.json()["orders"].value("query", ""), "user=a%26page%3D9%20x&page=1");
  EXPECT_EQ(tricky.json()["user"].value("path", ""), "/users/a&page=9%20x") << "as received";
}

}  // namespace
}  // namespace turnpike::test_support
