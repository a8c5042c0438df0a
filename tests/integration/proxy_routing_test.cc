// Routing through the real binary (API.md "Resources" /routes and "The proxy's own answers"):
// services and routes are written through the admin API with ?wait_for_proxy=true, then requests
// go to the proxy port and real upstreams (TestUpstream) tell which route served them and what
// they received. The precedence rules themselves are pinned in tests/unit/proxy/router_test.cc;
// here each rule is checked once the way a user meets it.
//
// Every test routes on its own unique host name, so the tests of the suite (which share one
// process and its database) never see each other's routes.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;

class ProxyRoutingTest : public ProxySuiteTest {
 protected:
  // The path the echo upstream received, or "HTTP <status>" for anything else.
  static std::string pathSeen(const Response& r) {
    json echo = r.json();
    return echo.is_object() ? echo.value("path", "?") : "HTTP " + std::to_string(r.status);
  }
};

TEST_F(ProxyRoutingTest, ExactHostBeatsWildcardAndWildcardNeedsASubdomain) {
  TestUpstream exact("exact"), wildcard("wildcard");
  exact.start();
  wildcard.start();
  route(service(exact.url()), {{"hosts", {"api." + host_}}});
  route(service(wildcard.url()), {{"hosts", {"*." + host_}}});

  EXPECT_EQ(servedBy(proxy("api." + host_).get("/x")), "exact");
  EXPECT_EQ(servedBy(proxy("API." + host_).get("/x")), "exact") << "host names are case-blind";
  EXPECT_EQ(servedBy(proxy("api." + host_ + ":8000").get("/x")), "exact") << "port ignored";
  EXPECT_EQ(servedBy(proxy("web." + host_).get("/x")), "wildcard");
  EXPECT_EQ(servedBy(proxy("a.b." + host_).get("/x")), "wildcard") << "any depth";
  Response bare = proxy(host_).get("/x");
  EXPECT_TRUE(isProblem(bare, 404)) << "\"*.example.org\" does not match \"example.org\"";
}

TEST_F(ProxyRoutingTest, PathPrecedenceIsExactThenTemplateThenLongestPrefix) {
  TestUpstream exact("exact"), templated("template"), prefix("prefix");
  exact.start();
  templated.start();
  prefix.start();
  route(service(exact.url()),
        {{"hosts", {host_}}, {"paths", {"/items/me"}}, {"strip_path", false}});
  route(service(templated.url()),
        {{"hosts", {host_}}, {"paths", {"/items/{id}"}}, {"strip_path", false}});
  route(service(prefix.url()), {{"hosts", {host_}}, {"paths", {"/items"}}, {"strip_path", false}});

  HttpClient c = proxy(host_);
  EXPECT_EQ(servedBy(c.get("/items/me")), "exact");           // exact beats template
  EXPECT_EQ(servedBy(c.get("/items/42")), "template");        // template beats prefix
  EXPECT_EQ(servedBy(c.get("/items/42/reviews")), "prefix");  // too deep for the template
  EXPECT_EQ(servedBy(c.get("/items")), "prefix");
  EXPECT_EQ(servedBy(c.get("/items/me/photos")), "exact");  // the longer prefix wins
  Response r = c.get("/items/42/reviews?page=2");
  EXPECT_EQ(pathSeen(r), "/items/42/reviews");
  EXPECT_EQ(r.json().value("query", ""), "page=2");
  EXPECT_TRUE(isProblem(c.get("/itemsX"), 404)) << "prefixes end at a segment boundary";
}

TEST_F(ProxyRoutingTest, MethodsAndHeaderConditionsSelectTheRoute) {
  TestUpstream reads("reads"), writes("writes"), v2("v2");
  reads.start();
  writes.start();
  v2.start();
  route(service(reads.url()),
        {{"hosts", {host_}}, {"paths", {"/m"}}, {"methods", {"GET", "HEAD"}}});
  route(service(writes.url()), {{"hosts", {host_}}, {"paths", {"/m"}}, {"methods", {"POST"}}});
  route(service(v2.url()), {{"hosts", {host_}},
                            {"paths", {"/m"}},
                            {"methods", {"GET"}},
                            {"headers", {{"x-version", {"2"}}}}});

  HttpClient c = proxy(host_);
  EXPECT_EQ(servedBy(c.get("/m")), "reads");
  EXPECT_EQ(servedBy(c.post("/m", json{{"a", 1}})), "writes");
  EXPECT_EQ(servedBy(c.get("/m", {{"X-Version", "2"}})), "v2");  // the more specific route
  EXPECT_EQ(servedBy(c.get("/m", {{"X-Version", "3"}})), "reads");
  EXPECT_EQ(servedBy(c.post("/m", json{{"a", 1}}, {{"X-Version", "2"}})), "writes");
  Response del = c.del("/m");
  EXPECT_TRUE(isProblem(del, 404)) << "no route takes DELETE";
}

TEST_F(ProxyRoutingTest, StripPathRemovesTheMatchedPrefixOnlyWhenAsked) {
  TestUpstream up("up");
  up.start();
  const std::string svc = service(up.url());
  route(svc, {{"hosts", {host_}}, {"paths", {"/strip"}}, {"strip_path", true}});
  route(svc, {{"hosts", {host_}}, {"paths", {"/keep"}}, {"strip_path", false}});

  HttpClient c = proxy(host_);
  Response stripped = c.get("/strip/a/b?q=1&r=2");
  EXPECT_EQ(pathSeen(stripped), "/a/b") << stripped;
  EXPECT_EQ(stripped.json().value("query", ""), "q=1&r=2");
  EXPECT_EQ(pathSeen(c.get("/strip")), "/");
  EXPECT_EQ(pathSeen(c.get("/strip/")), "/");
  Response kept = c.get("/keep/a/b?q=1");
  EXPECT_EQ(pathSeen(kept), "/keep/a/b") << kept;
  EXPECT_EQ(kept.json().value("query", ""), "q=1");
}

TEST_F(ProxyRoutingTest, PreserveHostChoosesTheHostTheUpstreamSees) {
  TestUpstream up("up");
  up.start();
  const std::string svc = service(up.url());
  route(svc, {{"hosts", {host_}}, {"paths", {"/preserved"}}, {"preserve_host", true}});
  route(svc, {{"hosts", {host_}}, {"paths", {"/rewritten"}}, {"preserve_host", false}});

  HttpClient c = proxy(host_);
  json preserved = c.get("/preserved").json();
  ASSERT_TRUE(preserved.is_object());
  EXPECT_EQ(preserved["headers"]["host"], host_);
  json rewritten = c.get("/rewritten").json();
  ASSERT_TRUE(rewritten.is_object());
  EXPECT_EQ(rewritten["headers"]["host"], "127.0.0.1:" + std::to_string(up.port()));
  EXPECT_EQ(rewritten["headers"]["x-forwarded-host"], host_);  // the original is not lost
}

TEST_F(ProxyRoutingTest, PathParametersDoNotBreakForwarding) {
  TestUpstream up("up");
  up.start();
  const std::string svc = service(up.url());
  route(svc, {{"hosts", {host_}}, {"paths", {"/users/{id}/orders"}}, {"strip_path", false}});
  route(svc, {{"hosts", {host_}}, {"paths", {"/accounts/{id}"}}});  // strip_path: default true

  HttpClient c = proxy(host_);
  Response r = c.get("/users/42/orders?status=open");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(pathSeen(r), "/users/42/orders");
  EXPECT_EQ(r.json().value("query", ""), "status=open");
  EXPECT_EQ(pathSeen(c.get("/users/a%20b/orders")), "/users/a%20b/orders") << "sent as received";
  Response post = c.post("/users/7/orders", json{{"item", "book"}});
  ASSERT_EQ(post.status, 200) << post;
  EXPECT_EQ(post.json().value("body", ""), R"({"item":"book"})");
  // A template matches the whole path, so strip_path leaves "/" (and the query).
  Response stripped = c.get("/accounts/9?x=1");
  EXPECT_EQ(pathSeen(stripped), "/") << stripped;
  EXPECT_EQ(stripped.json().value("query", ""), "x=1");
  EXPECT_TRUE(isProblem(c.get("/users/42/orders/1"), 404)) << "a template is not a prefix";
}

TEST_F(ProxyRoutingTest, UnmatchedRequestIsA404ProblemWithRequestId) {
  HttpClient c = proxy(host_);
  Response r = c.get("/no/such/route");
  ASSERT_TRUE(isProblem(r, 404));
  const std::string id = r.headerOr("X-Request-Id");
  EXPECT_FALSE(id.empty()) << r;
  EXPECT_EQ(r.json().value("request_id", ""), id);
  Response again = c.get("/no/such/route");
  EXPECT_TRUE(isProblem(again, 404));
  EXPECT_NE(again.headerOr("X-Request-Id"), id) << "every request gets its own id";
  EXPECT_EQ(c.connectCount(), 1) << "a 404 keeps the connection";
  // A client-supplied id is the one the answer names.
  Response named = c.get("/no/such/route", {{"X-Request-Id", "client-id-404"}});
  EXPECT_EQ(named.headerOr("X-Request-Id"), "client-id-404");
}

TEST_F(ProxyRoutingTest, WaitForProxyMakesWritesVisibleToTheVeryNextRequest) {
  TestUpstream up("up");
  up.start();
  const std::string svc = service(up.url());
  HttpClient c = proxy(host_);
  EXPECT_TRUE(isProblem(c.get("/fresh"), 404));

  Response created = admin().post(
      "/routes?wait_for_proxy=true",
      {{"name", uniqueName("fresh")}, {"service", svc}, {"hosts", {host_}}, {"paths", {"/fresh"}}});
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_EQ(servedBy(c.get("/fresh")), "up") << "the next request after the 201 is routed";

  const std::string id = created.json().value("id", "");
  Response deleted = admin().del("/routes/" + id + "?wait_for_proxy=true");
  ASSERT_EQ(deleted.status, 204) << deleted;
  EXPECT_TRUE(isProblem(c.get("/fresh"), 404)) << "the next request after the 204 is not";
}

TEST_F(ProxyRoutingTest, ProxyCredentialsAndChallengesStayWithTheProxy) {
  TestUpstream up("up");
  up.start();
  route(service(up.url()), {{"paths", {"/creds"}}});
  Response r = proxy().get(
      "/creds?header.Proxy-Authenticate=Basic%20realm%3D%22up%22",
      {{"Proxy-Authorization", "Basic Zm9vOmJhcg=="}, {"Authorization", "Bearer for-the-service"}});
  ASSERT_EQ(r.status, 200) << r;
  const json seen = r.json()["headers"];
  EXPECT_FALSE(seen.contains("proxy-authorization")) << "the client's proxy credentials: " << seen;
  EXPECT_EQ(seen.value("authorization", ""), "Bearer for-the-service") << "the service's are kept";
  EXPECT_FALSE(r.hasHeader("Proxy-Authenticate")) << r;
}

}  // namespace
}  // namespace turnpike::test_support
