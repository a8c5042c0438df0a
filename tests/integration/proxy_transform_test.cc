// Request and response transformation through the real binary (API.md, "Optional route fields
// for transformation and aggregation"): routes carry request_transform / response_transform, the
// echo upstream (TestUpstream) shows what it received, and the client sees what Turnpike made of
// the answer. The JSON reshaping rules themselves are pinned in
// tests/unit/proxy/policy/json_shape_test.cc.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;

class ProxyTransformTest : public ProxySuiteTest {
 protected:
  void SetUp() override {
    ProxySuiteTest::SetUp();
    upstream_.start();
    service_ = service(upstream_.url());
  }

  // The body length matches the Content-Length the client was given.
  static ::testing::AssertionResult lengthIsRight(const Response& r) {
    const std::string* length = r.header("Content-Length");
    if (length == nullptr) return ::testing::AssertionFailure() << "no Content-Length";
    if (*length != std::to_string(r.body.size())) {
      return ::testing::AssertionFailure()
             << "Content-Length " << *length << ", body " << r.body.size() << " bytes";
    }
    return ::testing::AssertionSuccess();
  }

  TestUpstream upstream_{"echo"};
  std::string service_;
};

TEST_F(ProxyTransformTest, RequestHeadersAndQueryAreReshapedOnTheWayUp) {
  route(service_, {{"paths", {"/h"}},
                   {"request_transform",
                    {{"set_headers", {{"X-Api-Version", "2"}}},
                     {"remove_headers", {"cookie"}},
                     {"rename_headers", {{"x-old", "x-new"}}},
                     {"set_query", {{"v", "2"}, {"who", "a b&c"}}},
                     {"remove_query", {"debug"}}}}});
  Response r = proxy().get("/h?debug=1&keep=yes&v=1", {{"Cookie", "session=secret"},
                                                       {"X-Old", "carried"},
                                                       {"X-Api-Version", "1"},
                                                       {"X-Other", "untouched"}});
  ASSERT_EQ(r.status, 200) << r;
  const json headers = r.json()["headers"];
  EXPECT_EQ(headers.value("x-api-version", ""), "2") << "set replaces the client's value";
  EXPECT_FALSE(headers.contains("cookie"));
  EXPECT_FALSE(headers.contains("x-old"));
  EXPECT_EQ(headers.value("x-new", ""), "carried");
  EXPECT_EQ(headers.value("x-other", ""), "untouched");
  EXPECT_EQ(r.json().value("query", ""), "keep=yes&v=2&who=a%20b%26c");
}

TEST_F(ProxyTransformTest, PathRewriteUsesCaptureGroupsAfterStripPath) {
  route(service_, {{"paths", {"/api"}},
                   {"strip_path", false},
                   {"request_transform",
                    {{"rewrite_path", {{"match", "^/api/v1/(.*)$"}, {"replace", "/v2/\\1"}}}}}});
  route(service_, {{"paths", {"/svc"}},
                   {"strip_path", true},
                   {"request_transform",
                    {{"rewrite_path",
                      {{"match", "^/users/([0-9]+)/(\\w+)$"}, {"replace", "/\\2/by-user/\\1"}}}}}});
  HttpClient c = proxy();
  Response r = c.get("/api/v1/orders/7?x=1");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.json().value("path", ""), "/v2/orders/7");
  EXPECT_EQ(r.json().value("query", ""), "x=1");
  EXPECT_EQ(c.get("/api/v0/orders").json().value("path", ""), "/api/v0/orders")
      << "no match: the path goes up unchanged";
  EXPECT_EQ(c.get("/svc/users/42/orders").json().value("path", ""), "/orders/by-user/42")
      << "the pattern sees the path after strip_path";
}

TEST_F(ProxyTransformTest, ResponseHeadersAreSetAndRemoved) {
  route(service_, {{"paths", {"/rh"}},
                   {"response_transform",
                    {{"set_headers", {{"X-Served-By", "turnpike"}, {"Cache-Control", "no-store"}}},
                     {"remove_headers", {"x-upstream"}}}}});
  Response r = proxy().get("/rh?header.Cache-Control=public");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.headerOr("X-Served-By"), "turnpike");
  EXPECT_EQ(r.headerOr("Cache-Control"), "no-store");
  EXPECT_FALSE(r.hasHeader("X-Upstream")) << r;
  EXPECT_TRUE(r.hasHeader("X-Request-Id"));
}

TEST_F(ProxyTransformTest, JsonBodiesAreReshapedWithTheirNewLength) {
  route(service_, {{"paths", {"/j"}},
                   {"response_transform",
                    {{"json",
                      {{"allow", {"upstream", "path", "headers"}},
                       {"deny", {"headers.cookie"}},
                       {"rename", {{"path", "route_path"}}},
                       {"wrap", "data"}}}}}});
  HttpClient c = proxy();
  for (std::string chunked : {"0", "1"}) {
    SCOPED_TRACE("chunked=" + chunked);
    Response r = c.get("/j/x?chunked=" + chunked, {{"Cookie", "a=b"}, {"X-Keep", "1"}});
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_TRUE(lengthIsRight(r)) << r;
    EXPECT_FALSE(r.hasHeader("Transfer-Encoding")) << r;
    const json body = r.json();
    ASSERT_TRUE(body.is_object()) << r;
    ASSERT_EQ(body.size(), 1u) << body;
    const json& data = body["data"];
    EXPECT_EQ(data.value("upstream", ""), "echo");
    EXPECT_EQ(data.value("route_path", ""), "/x");
    EXPECT_FALSE(data.contains("path"));
    EXPECT_FALSE(data.contains("method")) << "not allowed";
    EXPECT_FALSE(data["headers"].contains("cookie")) << "denied";
    EXPECT_EQ(data["headers"].value("x-keep", ""), "1");
  }
}

TEST_F(ProxyTransformTest, BodiesThatAreNotJsonOrTooLongOrErrorsPassUntouched) {
  route(service_,
        {{"paths", {"/n"}},
         {"response_transform", {{"json", {{"wrap", "data"}}}, {"max_body_bytes", 800}}}});
  HttpClient c = proxy();

  Response binary = c.get("/n?size=5000");
  ASSERT_EQ(binary.status, 200) << binary;
  EXPECT_EQ(binary.body.size(), 5000u);
  EXPECT_TRUE(lengthIsRight(binary));

  Response small = c.get("/n");
  ASSERT_EQ(small.status, 200) << small;
  ASSERT_LT(small.body.size(), 800u) << "the echo must fit the cap once wrapped";
  EXPECT_TRUE(small.json().contains("data")) << small;

  // Over 800 bytes: with a Content-Length, and chunked (read up to the cap, then relayed).
  const std::string padding(1000, 'p');
  for (std::string chunked : {"0", "1"}) {
    SCOPED_TRACE("chunked=" + chunked);
    Response big = c.get("/n?chunked=" + chunked, {{"X-Padding", padding}});
    ASSERT_EQ(big.status, 200) << big;
    EXPECT_FALSE(big.json().contains("data")) << "over max_body_bytes: as received";
    EXPECT_EQ(big.json()["headers"].value("x-padding", ""), padding);
  }

  Response error = c.get("/n?status=404");
  EXPECT_EQ(error.status, 404);
  EXPECT_FALSE(error.json().contains("data")) << "an upstream's error body keeps its shape";
}

TEST_F(ProxyTransformTest, ABadPatternIsRefusedNamingTheFieldAndNothingIsWritten) {
  const int64_t before = storedVersion();
  json body = {{"name", uniqueName("route")},
               {"service", service_},
               {"hosts", {host_}},
               {"request_transform", {{"rewrite_path", {{"match", "^/(a"}, {"replace", "/b"}}}}}};
  Response r = admin().post("/routes", body);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "request_transform.rewrite_path.match")) << r;

  body["request_transform"] = {{"set_headers", {{"Content-Length", "0"}}}};
  r = admin().post("/routes", body);
  EXPECT_TRUE(isProblem(r, 400)) << r;
  EXPECT_TRUE(namesField(r, "request_transform.set_headers.Content-Length")) << r;
  EXPECT_EQ(storedVersion(), before);
}

TEST_F(ProxyTransformTest, TransformsRoundTripThroughTheAdminApi) {
  const json transform = {{"set_headers", {{"x-a", "1"}}},    {"remove_headers", json::array()},
                          {"rename_headers", json::object()}, {"set_query", json::object()},
                          {"remove_query", {"debug"}},        {"rewrite_path", nullptr}};
  const std::string name = route(service_, {{"paths", {"/rt"}}, {"request_transform", transform}});
  json stored = mustGet("/routes/" + name);
  EXPECT_EQ(stored["request_transform"], transform);
  EXPECT_FALSE(stored.contains("response_transform"));

  Response cleared = admin().patch("/routes/" + name, {{"request_transform", nullptr}});
  ASSERT_EQ(cleared.status, 200) << cleared;
  EXPECT_FALSE(mustGet("/routes/" + name).contains("request_transform"));
}

}  // namespace
}  // namespace turnpike::test_support
