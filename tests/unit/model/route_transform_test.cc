#include "model/route_transform.h"

#include <gtest/gtest.h>

#include <string>

#include "model/route.h"
#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using testing::caseName;
using testing::expectRule;
using testing::hasFieldError;
using testing::RuleCase;

const json kTransformed = {
    {"service", "orders"},
    {"paths", {"/api/v1"}},
    {"request_transform",
     {{"set_headers", {{"X-Api-Version", "2"}}},
      {"remove_headers", {"Cookie"}},
      {"rename_headers", {{"X-Old", "X-New"}}},
      {"set_query", {{"v", "2"}}},
      {"remove_query", {"debug"}},
      {"rewrite_path", {{"match", "^/api/v1/(.*)$"}, {"replace", "/v2/\\1"}}}}},
    {"response_transform",
     {{"set_headers", {{"x-served-by", "turnpike"}}},
      {"remove_headers", {"server"}},
      {"json",
       {{"allow", {"id", "items.name"}},
        {"deny", {"internal"}},
        {"rename", {{"usr", "user"}}},
        {"wrap", "data"}}}}}};

const json kAggregated = {
    {"paths", {"/profile/{id}"}},
    {"aggregate",
     {{"backends",
       {{{"service", "users"},
         {"path", "/users/{id}"},
         {"group", "user"},
         {"required", true},
         {"timeout_ms", 500}},
        {{"service", "orders"}, {"path", "/orders?user=me"}, {"json", {{"deny", {"secret"}}}}}}}}}};

TEST(RouteTransformTest, ReadsEveryRequestAndResponseStep) {
  auto route = parseRoute(kTransformed);
  ASSERT_TRUE(route.ok()) << route.error().message;
  const RequestTransform& req = *route->request_transform;
  EXPECT_EQ(req.set_headers, (std::map<std::string, std::string>{{"x-api-version", "2"}}));
  EXPECT_EQ(req.remove_headers, std::vector<std::string>{"cookie"});
  EXPECT_EQ(req.rename_headers, (std::map<std::string, std::string>{{"x-old", "x-new"}}));
  EXPECT_EQ(req.set_query, (std::map<std::string, std::string>{{"v", "2"}}));
  EXPECT_EQ(req.remove_query, std::vector<std::string>{"debug"});
  ASSERT_TRUE(req.rewrite_path);
  EXPECT_EQ(req.rewrite_path->replace, "/v2/\\1");
  const ResponseTransform& resp = *route->response_transform;
  EXPECT_EQ(resp.remove_headers, std::vector<std::string>{"server"});
  ASSERT_TRUE(resp.json);
  EXPECT_EQ(resp.json->allow, (std::vector<std::string>{"id", "items.name"}));
  EXPECT_EQ(resp.json->wrap, "data");
  EXPECT_EQ(resp.max_body_bytes, kDefaultTransformBodyCap);
  EXPECT_FALSE(route->aggregate);
}

TEST(RouteTransformTest, TheApiFormRoundTrips) {
  for (const json& body : {kTransformed, kAggregated}) {
    auto route = parseRoute(body);
    ASSERT_TRUE(route.ok()) << route.error().message;
    json out = toJson(*route);
    auto again = parseRoute(out);
    ASSERT_TRUE(again.ok()) << again.error().message << " in " << out.dump();
    EXPECT_EQ(*again, *route) << out.dump();
  }
}

TEST(RouteTransformTest, RoutesWithoutTransformsShowNoTransformMembers) {
  auto route = parseRoute({{"service", "orders"}, {"paths", {"/orders"}}});
  ASSERT_TRUE(route.ok());
  json out = toJson(*route);
  EXPECT_FALSE(out.contains("request_transform"));
  EXPECT_FALSE(out.contains("response_transform"));
  EXPECT_FALSE(out.contains("aggregate"));
}

TEST(RouteTransformTest, AnAggregateRouteHasNoServiceAndKeepsItsBackendsInOrder) {
  auto route = parseRoute(kAggregated);
  ASSERT_TRUE(route.ok()) << route.error().message;
  EXPECT_TRUE(route->service.empty());
  EXPECT_TRUE(toJson(*route)["service"].is_null());
  ASSERT_EQ(route->aggregate->backends.size(), 2u);
  const AggregateBackend& users = route->aggregate->backends[0];
  EXPECT_EQ(users.service, "users");
  EXPECT_EQ(users.method, "GET");
  EXPECT_EQ(users.group, "user");
  EXPECT_TRUE(users.required);
  EXPECT_EQ(users.timeout_ms, 500);
  const AggregateBackend& orders = route->aggregate->backends[1];
  EXPECT_TRUE(orders.group.empty());
  EXPECT_FALSE(orders.required);
  EXPECT_EQ(orders.timeout_ms, 0);
  EXPECT_EQ(orders.json->deny, std::vector<std::string>{"secret"});
  EXPECT_EQ(route->aggregate->timeout_ms, kDefaultAggregateTimeoutMs);
}

TEST(RouteTransformTest, RegexNamedGroupsAreParametersToo) {
  json body = kAggregated;
  body["paths"] = {"~/p/(?P<id>[0-9]+)"};
  EXPECT_TRUE(parseRoute(body).ok());
  body["paths"] = {"~/p/(?P<id>[0-9]+)", "/profile"};
  EXPECT_TRUE(hasFieldError(parseRoute(body), "aggregate.backends[0].path",
                            "not a parameter of every route path"));
}

TEST(RouteTransformTest, BackendQueriesMayUseRouteParameters) {
  json body = kAggregated;
  body["aggregate"]["backends"][1]["path"] = "/orders?user={id}&tag=v-{id}&page=1";
  auto route = parseRoute(body);
  ASSERT_TRUE(route.ok()) << route.error().message;
  EXPECT_EQ(route->aggregate->backends[1].path, "/orders?user={id}&tag=v-{id}&page=1");
}

TEST(RouteTransformTest, TemplateParamsListsThePlaceholders) {
  EXPECT_EQ(templateParams("/users/{id}/orders/{order}?x=1"),
            (std::vector<std::string>{"id", "order"}));
  EXPECT_TRUE(templateParams("/plain").empty());
}

class TransformRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(TransformRuleTest, ReportsTheField) { expectRule(parseRoute, kTransformed, GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Rules, TransformRuleTest,
    ::testing::Values(
        RuleCase{"request_not_object",
                 {{"request_transform", 3}},
                 "request_transform",
                 "must be an object"},
        RuleCase{"unknown_step",
                 {{"request_transform", {{"add_headers", json::object()}}}},
                 "request_transform.add_headers",
                 "unknown field"},
        RuleCase{"set_header_bad_name",
                 {{"request_transform", {{"set_headers", {{"x y", "1"}}}}}},
                 "request_transform.set_headers.x y",
                 "valid header name"},
        RuleCase{"set_header_own",
                 {{"request_transform", {{"set_headers", {{"Content-Length", "1"}}}}}},
                 "request_transform.set_headers.Content-Length",
                 "set by Turnpike"},
        RuleCase{"set_header_consumer",
                 {{"request_transform", {{"set_headers", {{"X-Consumer-Id", "admin"}}}}}},
                 "request_transform.set_headers.X-Consumer-Id",
                 "set by Turnpike"},
        RuleCase{"set_header_value_not_string",
                 {{"request_transform", {{"set_headers", {{"x-a", 1}}}}}},
                 "request_transform.set_headers.x-a",
                 "must be a string"},
        RuleCase{"set_header_value_newline",
                 {{"request_transform", {{"set_headers", {{"x-a", "1\r\nx-b: 2"}}}}}},
                 "request_transform.set_headers.x-a",
                 "control characters"},
        RuleCase{"set_header_duplicate_case",
                 {{"request_transform", {{"set_headers", {{"X-A", "1"}, {"x-a", "2"}}}}}},
                 "request_transform.set_headers.x-a",
                 "duplicate"},
        RuleCase{"remove_host",
                 {{"request_transform", {{"remove_headers", {"Host"}}}}},
                 "request_transform.remove_headers[0]",
                 "set by Turnpike"},
        RuleCase{"rename_to_own",
                 {{"request_transform", {{"rename_headers", {{"x-old", "x-forwarded-for"}}}}}},
                 "request_transform.rename_headers.x-old",
                 "set by Turnpike"},
        RuleCase{"query_empty_name",
                 {{"request_transform", {{"remove_query", {""}}}}},
                 "request_transform.remove_query[0]",
                 "must not be empty"},
        RuleCase{"rewrite_bad_regex",
                 {{"request_transform", {{"rewrite_path", {{"match", "^/(a"}, {"replace", "/"}}}}}},
                 "request_transform.rewrite_path.match",
                 "invalid regex"},
        RuleCase{
            "rewrite_missing_replace",
            {{"request_transform", {{"rewrite_path", {{"match", "^/a"}, {"replace", nullptr}}}}}},
            "request_transform.rewrite_path.replace",
            "is required"},
        RuleCase{"rewrite_relative",
                 {{"request_transform", {{"rewrite_path", {{"replace", "v2/\\1"}}}}}},
                 "request_transform.rewrite_path.replace",
                 "must start with '/'"},
        RuleCase{"rewrite_missing_group",
                 {{"request_transform", {{"rewrite_path", {{"replace", "/v2/\\2"}}}}}},
                 "request_transform.rewrite_path.replace",
                 "capture group"},
        RuleCase{"rewrite_query",
                 {{"request_transform", {{"rewrite_path", {{"replace", "/v2?x=1"}}}}}},
                 "request_transform.rewrite_path.replace",
                 "'?'"},
        RuleCase{"response_own_header",
                 {{"response_transform", {{"remove_headers", {"transfer-encoding"}}}}},
                 "response_transform.remove_headers[0]",
                 "set by Turnpike"},
        RuleCase{"json_empty_segment",
                 {{"response_transform", {{"json", {{"allow", {"items..name"}}}}}}},
                 "response_transform.json.allow[0]",
                 "none of them empty"},
        RuleCase{"json_rename_dotted_target",
                 {{"response_transform", {{"json", {{"rename", {{"usr", "a.b"}}}}}}}},
                 "response_transform.json.rename.usr",
                 "without '.'"},
        RuleCase{"json_wrap_empty",
                 {{"response_transform", {{"json", {{"wrap", ""}}}}}},
                 "response_transform.json.wrap",
                 "must not be empty"},
        RuleCase{"json_unknown",
                 {{"response_transform", {{"json", {{"keep", {"a"}}}}}}},
                 "response_transform.json.keep",
                 "unknown field"},
        RuleCase{"cap_too_big",
                 {{"response_transform", {{"max_body_bytes", int64_t{1} << 40}}}},
                 "response_transform.max_body_bytes",
                 "between 1 and"}),
    caseName);

class AggregateRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(AggregateRuleTest, ReportsTheField) { expectRule(parseRoute, kAggregated, GetParam()); }

json backendPatch(json backend) {
  json backends = kAggregated["aggregate"]["backends"];
  backends[0].merge_patch(backend);
  return {{"aggregate", {{"backends", backends}}}};
}

INSTANTIATE_TEST_SUITE_P(
    Rules, AggregateRuleTest,
    ::testing::Values(
        RuleCase{"with_service", {{"service", "orders"}}, "service", "must be absent"},
        RuleCase{"no_backends",
                 {{"aggregate", {{"backends", nullptr}}}},
                 "aggregate.backends",
                 "is required"},
        RuleCase{"empty_backends",
                 {{"aggregate", {{"backends", json::array()}}}},
                 "aggregate.backends",
                 "non-empty array"},
        RuleCase{"too_many_backends",
                 {{"aggregate",
                   {{"backends", json::array({json{{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}},
                                              {{"service", "a"}, {"path", "/"}}})}}}},
                 "aggregate.backends",
                 "at most 16"},
        RuleCase{"backend_no_service", backendPatch({{"service", nullptr}}),
                 "aggregate.backends[0].service", "is required"},
        RuleCase{"backend_bad_service", backendPatch({{"service", "a b"}}),
                 "aggregate.backends[0].service", "service id (UUID) or name"},
        RuleCase{"backend_no_path", backendPatch({{"path", nullptr}}), "aggregate.backends[0].path",
                 "is required"},
        RuleCase{"backend_relative_path", backendPatch({{"path", "users"}}),
                 "aggregate.backends[0].path", "must start with '/'"},
        RuleCase{"backend_unknown_param", backendPatch({{"path", "/users/{user}"}}),
                 "aggregate.backends[0].path", "not a parameter of every route path"},
        RuleCase{"backend_partial_param", backendPatch({{"path", "/users/x{id}"}}),
                 "aggregate.backends[0].path", "whole segment"},
        RuleCase{"backend_unknown_param_in_query", backendPatch({{"path", "/users?id={user}"}}),
                 "aggregate.backends[0].path", "not a parameter of every route path"},
        RuleCase{"backend_unclosed_param_in_query", backendPatch({{"path", "/users?id={id"}}),
                 "aggregate.backends[0].path", "must be closed"},
        RuleCase{"backend_nested_param_in_query", backendPatch({{"path", "/u?id={{id}}"}}),
                 "aggregate.backends[0].path", "closed by '}' before the next '{'"},
        RuleCase{"backend_stray_brace_in_query", backendPatch({{"path", "/u?id=}"}}),
                 "aggregate.backends[0].path", "must close a '{'"},
        RuleCase{"backend_empty_param_in_query", backendPatch({{"path", "/u?id={}"}}),
                 "aggregate.backends[0].path", "must name a parameter"},
        RuleCase{"backend_bad_method", backendPatch({{"method", "GE T"}}),
                 "aggregate.backends[0].method", "HTTP method"},
        RuleCase{"backend_timeout_zero", backendPatch({{"timeout_ms", 0}}),
                 "aggregate.backends[0].timeout_ms", "between 1 and"},
        RuleCase{"backend_timeout_over_total",
                 {{"aggregate",
                   {{"timeout_ms", 100},
                    {"backends", {{{"service", "users"}, {"path", "/u"}, {"timeout_ms", 500}}}}}}},
                 "aggregate.backends[0].timeout_ms",
                 "must not exceed aggregate.timeout_ms"},
        RuleCase{"duplicate_group",
                 {{"aggregate",
                   {{"backends",
                     {{{"service", "a"}, {"path", "/a"}, {"group", "g"}},
                      {{"service", "b"}, {"path", "/b"}, {"group", "g"}}}}}}},
                 "aggregate.backends[1].group",
                 "duplicate group"},
        RuleCase{"backend_unknown_field", backendPatch({{"weight", 1}}),
                 "aggregate.backends[0].weight", "unknown field"},
        RuleCase{"request_transform_beyond_headers",
                 {{"request_transform", {{"remove_query", {"debug"}}}}},
                 "request_transform",
                 "only set_headers applies"}),
    caseName);

TEST(RouteTransformTest, AnAggregateRouteMaySetBackendRequestHeaders) {
  json body = kAggregated;
  body["request_transform"] = {{"set_headers", {{"x-from", "profile"}}}};
  EXPECT_TRUE(parseRoute(body).ok());
}

}  // namespace
}  // namespace turnpike::model
