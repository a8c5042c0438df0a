#include "model/service.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using testing::expectRule;
using testing::hasFieldError;
using testing::RuleCase;

const json kBaseService = {
    {"name", "orders"},
    {"targets", {{{"url", "http://10.0.0.5:8080"}, {"weight", 100}}}},
    {"health_check", {{"path", "/healthz"}}},
};

json tags(int n) {
  json out = json::array();
  for (int i = 0; i < n; ++i) out.push_back("t" + std::to_string(i));
  return out;
}

json target(const std::string& url) { return {{{"url", url}}}; }

class ServiceRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(ServiceRuleTest, ReportsTheField) { expectRule(parseService, kBaseService, GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Rules, ServiceRuleTest,
    ::testing::Values(
        RuleCase{"unknown_field", {{"upstream", "x"}}, "upstream", "unknown field"},
        RuleCase{"unknown_field_array", {{"colour", json::array()}}, "colour", "unknown field"},
        RuleCase{"id_not_uuid", {{"id", "abc"}}, "id", "must be a UUID"},
        RuleCase{"id_not_string", {{"id", 7}}, "id", "must be a string"},
        RuleCase{"name_missing", {{"name", nullptr}}, "name", "is required"},
        RuleCase{"name_not_string", {{"name", 12}}, "name", "must be a string"},
        RuleCase{"name_empty", {{"name", ""}}, "name", "1 to 128"},
        RuleCase{"name_too_long", {{"name", std::string(129, 'a')}}, "name", "1 to 128"},
        RuleCase{"name_bad_char", {{"name", "or ders"}}, "name", "may only contain"},
        RuleCase{"name_slash", {{"name", "a/b"}}, "name", "may only contain"},
        RuleCase{"name_at", {{"name", "a@b"}}, "name", "may only contain"},
        RuleCase{"name_uuid",
                 {{"name", "123e4567-e89b-42d3-a456-426614174000"}},
                 "name",
                 "must not be a UUID"},
        RuleCase{"targets_missing", {{"targets", nullptr}}, "targets", "at least one target"},
        RuleCase{"targets_empty", {{"targets", json::array()}}, "targets", "at least one target"},
        RuleCase{"targets_not_array", {{"targets", "http://a"}}, "targets", "must be an array"},
        RuleCase{"target_not_object", {{"targets", {5}}}, "targets[0]", "must be an object"},
        RuleCase{"target_url_missing",
                 {{"targets", {{{"weight", 1}}}}},
                 "targets[0].url",
                 "is required"},
        RuleCase{"target_url_not_string",
                 {{"targets", {{{"url", 80}}}}},
                 "targets[0].url",
                 "must be a string"},
        RuleCase{"target_unknown_field",
                 {{"targets", {{{"url", "http://a"}, {"host", "a"}}}}},
                 "targets[0].host",
                 "unknown field"},
        RuleCase{"target_https",
                 {{"targets", target("https://a.example.com")}},
                 "targets[0].url",
                 "https targets are not supported yet"},
        RuleCase{"target_ftp", {{"targets", target("ftp://a")}}, "targets[0].url", "http://"},
        RuleCase{
            "target_no_scheme", {{"targets", target("10.0.0.5:80")}}, "targets[0].url", "http://"},
        RuleCase{"target_path",
                 {{"targets", target("http://a.example.com/api")}},
                 "targets[0].url",
                 "must not contain a path"},
        RuleCase{"target_query",
                 {{"targets", target("http://a.example.com/?x=1")}},
                 "targets[0].url",
                 "query"},
        RuleCase{"target_query_no_slash",
                 {{"targets", target("http://a.example.com?x=1")}},
                 "targets[0].url",
                 "query"},
        RuleCase{"target_fragment",
                 {{"targets", target("http://a.example.com#top")}},
                 "targets[0].url",
                 "fragment"},
        RuleCase{"target_userinfo",
                 {{"targets", target("http://user:pw@a.example.com")}},
                 "targets[0].url",
                 "userinfo"},
        RuleCase{"target_no_host", {{"targets", target("http://")}}, "targets[0].url", "host"},
        RuleCase{"target_port_only", {{"targets", target("http://:80")}}, "targets[0].url", "host"},
        RuleCase{"target_bad_host",
                 {{"targets", target("http://-bad-.example.com")}},
                 "targets[0].url",
                 "invalid host"},
        RuleCase{"target_host_space",
                 {{"targets", target("http://a b.com")}},
                 "targets[0].url",
                 "invalid host"},
        RuleCase{"target_bad_ipv4",
                 {{"targets", target("http://999.1.1.1")}},
                 "targets[0].url",
                 "invalid host"},
        RuleCase{"target_short_ipv4",
                 {{"targets", target("http://10.0.1")}},
                 "targets[0].url",
                 "invalid host"},
        RuleCase{"target_bad_ipv6",
                 {{"targets", target("http://[fe80::zz]:80")}},
                 "targets[0].url",
                 "IPv6"},
        RuleCase{"target_unbracketed_ipv6",
                 {{"targets", target("http://::1")}},
                 "targets[0].url",
                 "host"},
        RuleCase{"target_port_zero",
                 {{"targets", target("http://a:0")}},
                 "targets[0].url",
                 "port must be between 1 and 65535"},
        RuleCase{"target_port_too_big",
                 {{"targets", target("http://a:65536")}},
                 "targets[0].url",
                 "port must be between 1 and 65535"},
        RuleCase{"target_port_empty",
                 {{"targets", target("http://a:")}},
                 "targets[0].url",
                 "port must be between 1 and 65535"},
        RuleCase{"target_port_text",
                 {{"targets", target("http://a:http")}},
                 "targets[0].url",
                 "port must be between 1 and 65535"},
        RuleCase{"target_duplicate",
                 {{"targets",
                   {{{"url", "http://A.example.com"}}, {{"url", "http://a.example.com:80/"}}}}},
                 "targets[1].url",
                 "duplicate target"},
        RuleCase{"weight_negative",
                 {{"targets", {{{"url", "http://a"}, {"weight", -1}}}}},
                 "targets[0].weight",
                 "between 0 and 1000"},
        RuleCase{"weight_too_big",
                 {{"targets", {{{"url", "http://a"}, {"weight", 1001}}}}},
                 "targets[0].weight",
                 "between 0 and 1000"},
        RuleCase{"weight_fraction",
                 {{"targets", {{{"url", "http://a"}, {"weight", 1.5}}}}},
                 "targets[0].weight",
                 "must be an integer"},
        RuleCase{"weight_string",
                 {{"targets", {{{"url", "http://a"}, {"weight", "10"}}}}},
                 "targets[0].weight",
                 "must be an integer"},
        RuleCase{"weight_bool",
                 {{"targets", {{{"url", "http://a"}, {"weight", true}}}}},
                 "targets[0].weight",
                 "must be an integer"},
        RuleCase{"load_balancing_unknown",
                 {{"load_balancing", "random"}},
                 "load_balancing",
                 "must be one of round_robin, least_connections, consistent_hash"},
        RuleCase{"load_balancing_not_string",
                 {{"load_balancing", 1}},
                 "load_balancing",
                 "must be a string"},
        RuleCase{"hash_on_missing",
                 {{"load_balancing", "consistent_hash"}},
                 "hash_on",
                 "is required when load_balancing is consistent_hash"},
        RuleCase{"hash_on_without_consistent_hash",
                 {{"hash_on", "ip"}},
                 "hash_on",
                 "only allowed when load_balancing is consistent_hash"},
        RuleCase{"hash_on_unknown",
                 {{"load_balancing", "consistent_hash"}, {"hash_on", "cookie"}},
                 "hash_on",
                 "must be one of ip, consumer, header:<name>"},
        RuleCase{"hash_on_empty_header",
                 {{"load_balancing", "consistent_hash"}, {"hash_on", "header:"}},
                 "hash_on",
                 "header name"},
        RuleCase{"hash_on_bad_header",
                 {{"load_balancing", "consistent_hash"}, {"hash_on", "header:x y"}},
                 "hash_on",
                 "header name"},
        RuleCase{"hash_on_not_string",
                 {{"load_balancing", "consistent_hash"}, {"hash_on", 1}},
                 "hash_on",
                 "must be a string"},
        RuleCase{"connect_timeout_zero",
                 {{"connect_timeout_ms", 0}},
                 "connect_timeout_ms",
                 "between 1 and 600000"},
        RuleCase{"connect_timeout_too_big",
                 {{"connect_timeout_ms", 600001}},
                 "connect_timeout_ms",
                 "between 1 and 600000"},
        RuleCase{"read_timeout_zero",
                 {{"read_timeout_ms", 0}},
                 "read_timeout_ms",
                 "between 1 and 3600000"},
        RuleCase{"read_timeout_too_big",
                 {{"read_timeout_ms", 3600001}},
                 "read_timeout_ms",
                 "between 1 and 3600000"},
        RuleCase{"read_timeout_huge",
                 {{"read_timeout_ms", 18446744073709551615ULL}},
                 "read_timeout_ms",
                 "between 1 and 3600000"},
        RuleCase{"retries_negative", {{"retries", -1}}, "retries", "between 0 and 10"},
        RuleCase{"retries_too_big", {{"retries", 11}}, "retries", "between 0 and 10"},
        RuleCase{"retries_fraction", {{"retries", 2.5}}, "retries", "must be an integer"},
        RuleCase{"health_check_not_object",
                 {{"health_check", "yes"}},
                 "health_check",
                 "must be an object"},
        RuleCase{"health_check_path_relative",
                 {{"health_check", {{"path", "healthz"}}}},
                 "health_check.path",
                 "must start with '/'"},
        RuleCase{"health_check_path_space",
                 {{"health_check", {{"path", "/health z"}}}},
                 "health_check.path",
                 "spaces"},
        RuleCase{"health_check_interval_too_small",
                 {{"health_check", {{"interval_ms", 99}}}},
                 "health_check.interval_ms",
                 "between 100 and"},
        RuleCase{"health_check_unhealthy_zero",
                 {{"health_check", {{"unhealthy_after", 0}}}},
                 "health_check.unhealthy_after",
                 "between 1 and"},
        RuleCase{"health_check_healthy_zero",
                 {{"health_check", {{"healthy_after", 0}}}},
                 "health_check.healthy_after",
                 "between 1 and"},
        RuleCase{"health_check_unknown_field",
                 {{"health_check", {{"timeout_ms", 5}}}},
                 "health_check.timeout_ms",
                 "unknown field"},
        RuleCase{"tags_not_array", {{"tags", "a"}}, "tags", "must be an array of strings"},
        RuleCase{"tag_not_string", {{"tags", {"a", 1}}}, "tags[1]", "must be a string"},
        RuleCase{"tag_empty", {{"tags", {""}}}, "tags[0]", "1 to 128"},
        RuleCase{"tag_too_long", {{"tags", {std::string(129, 'x')}}}, "tags[0]", "1 to 128"},
        RuleCase{"tag_comma", {{"tags", {"a,b"}}}, "tags[0]", "','"},
        RuleCase{"tag_control", {{"tags", {"a\nb"}}}, "tags[0]", "control"},
        RuleCase{"tag_duplicate", {{"tags", {"a", "b", "a"}}}, "tags[2]", "duplicate tag"},
        RuleCase{"tags_too_many", {{"tags", tags(33)}}, "tags", "at most 32"},
        RuleCase{"created_at_string", {{"created_at", "now"}}, "created_at", "must be an integer"},
        RuleCase{"created_at_negative", {{"created_at", -1}}, "created_at", "non-negative"},
        RuleCase{
            "updated_at_fraction", {{"updated_at", 1.25}}, "updated_at", "must be an integer"}),
    testing::caseName);

TEST(ServiceTest, MinimalBodyTakesDefaults) {
  auto r = parseService({{"name", "orders"}, {"targets", {{{"url", "http://orders"}}}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "orders");
  ASSERT_EQ(r->targets.size(), 1u);
  EXPECT_EQ(r->targets[0].url, "http://orders");
  EXPECT_EQ(r->targets[0].weight, 100);
  EXPECT_EQ(r->load_balancing, LoadBalancing::kRoundRobin);
  EXPECT_EQ(r->hash_on, "");
  EXPECT_EQ(r->connect_timeout_ms, 2000);
  EXPECT_EQ(r->read_timeout_ms, 30000);
  EXPECT_EQ(r->retries, 2);
  EXPECT_FALSE(r->health_check.has_value());
  EXPECT_TRUE(r->tags.empty());
  EXPECT_EQ(r->id, "");
}

TEST(ServiceTest, NullMeansDefault) {
  auto r = parseService({{"name", "orders"},
                         {"targets", {{{"url", "http://orders"}, {"weight", nullptr}}}},
                         {"retries", nullptr},
                         {"health_check", nullptr},
                         {"hash_on", nullptr},
                         {"tags", nullptr}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->retries, 2);
  EXPECT_EQ(r->targets[0].weight, 100);
  EXPECT_FALSE(r->health_check.has_value());
}

TEST(ServiceTest, HealthCheckDefaultsWhenEmptyObject) {
  json body = kBaseService;
  body["health_check"] = json::object();
  auto r = parseService(body);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->health_check.has_value());
  EXPECT_EQ(*r->health_check, HealthCheck{});
}

TEST(ServiceTest, AcceptsTargetFormsAndStoresThemCanonically) {
  const std::pair<const char*, const char*> cases[] = {
      {"http://10.0.0.5:8080", "http://10.0.0.5:8080"},
      {"http://orders", "http://orders"},
      {"http://orders_v2:9000", "http://orders_v2:9000"},
      {"http://Orders.Example.COM/", "http://orders.example.com"},
      {"http://[::1]:8080", "http://[::1]:8080"},
      {"http://[2001:DB8::1]", "http://[2001:db8::1]"},
      {"HTTP://a.example.com:65535/", "http://a.example.com:65535"},
      {"http://a:1", "http://a:1"},
      {"http://a:0080", "http://a:80"},
  };
  for (const auto& [url, canonical] : cases) {
    auto r = parseService({{"name", "s"}, {"targets", target(url)}});
    ASSERT_TRUE(r.ok()) << url << ": " << r.error().message;
    EXPECT_EQ(r->targets[0].url, canonical) << url;
  }
}

TEST(ServiceTest, WeightBoundsAreInclusive) {
  auto r = parseService(
      {{"name", "s"},
       {"targets",
        {{{"url", "http://a"}, {"weight", 0}}, {{"url", "http://b"}, {"weight", 1000}}}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->targets[0].weight, 0);
  EXPECT_EQ(r->targets[1].weight, 1000);
}

TEST(ServiceTest, IntegralFloatIsAnInteger) {
  auto r = parseService(testing::patched(kBaseService, {{"connect_timeout_ms", 1e3}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->connect_timeout_ms, 1000);
}

TEST(ServiceTest, ConsistentHashKeepsHashOnAndLowerCasesHeaderNames) {
  auto r = parseService(testing::patched(
      kBaseService, {{"load_balancing", "consistent_hash"}, {"hash_on", "header:X-User-Id"}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->load_balancing, LoadBalancing::kConsistentHash);
  EXPECT_EQ(r->hash_on, "header:x-user-id");
  for (const char* on : {"ip", "consumer"}) {
    auto s = parseService(
        testing::patched(kBaseService, {{"load_balancing", "consistent_hash"}, {"hash_on", on}}));
    ASSERT_TRUE(s.ok()) << on;
    EXPECT_EQ(s->hash_on, on);
  }
}

TEST(ServiceTest, UpperCaseIdIsStoredLowerCase) {
  auto r = parseService(
      testing::patched(kBaseService, {{"id", "123E4567-E89B-42D3-A456-426614174000"}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "123e4567-e89b-42d3-a456-426614174000");
}

TEST(ServiceTest, UnknownFieldIsAnErrorEvenWhenNull) {
  json body = kBaseService;
  body["colour"] = nullptr;
  EXPECT_TRUE(hasFieldError(parseService(body), "colour", "unknown field"));
}

TEST(ServiceTest, BodyMustBeAnObject) {
  for (const json& body : {json::array(), json("x"), json(1), json(nullptr)}) {
    auto r = parseService(body);
    ASSERT_FALSE(r.ok());
    ASSERT_EQ(r.error().fields.size(), 1u) << body.dump();
    EXPECT_EQ(r.error().fields[0], (FieldError{"", "must be a JSON object"}));
  }
}

TEST(ServiceTest, CollectsEveryError) {
  auto r = parseService({{"name", "bad name"},
                         {"targets", {{{"url", "https://a"}, {"weight", 5000}}}},
                         {"retries", "two"},
                         {"zone", "eu"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(r.error().fields.size(), 5u) << testing::describe(r.error().fields);
  EXPECT_EQ(r.error().message, "invalid service: 5 errors");
  EXPECT_TRUE(hasFieldError(r, "name", "may only contain"));
  EXPECT_TRUE(hasFieldError(r, "targets[0].url", "https"));
  EXPECT_TRUE(hasFieldError(r, "targets[0].weight", "between 0 and 1000"));
  EXPECT_TRUE(hasFieldError(r, "retries", "must be an integer"));
  EXPECT_TRUE(hasFieldError(r, "zone", "unknown field"));
}

TEST(ServiceTest, OneErrorIsTheSummary) {
  auto r = parseService(testing::patched(kBaseService, {{"retries", 11}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "invalid service: retries: must be between 0 and 10");
}

Service fullService() {
  Service s;
  s.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  s.name = "orders";
  s.targets = {{"http://10.0.0.5:8080", 100}, {"http://[::1]:81", 0}};
  s.load_balancing = LoadBalancing::kConsistentHash;
  s.hash_on = "header:x-user";
  s.connect_timeout_ms = 1500;
  s.read_timeout_ms = 60000;
  s.retries = 0;
  s.health_check = HealthCheck{"/healthz", 1000, 5, 1};
  s.tags = {"prod", "team-a"};
  s.created_at = 1700000000;
  s.updated_at = 1700000100;
  return s;
}

TEST(ServiceTest, ToJsonIsTheApiForm) {
  json j = toJson(fullService());
  EXPECT_EQ(j, json::parse(R"({
    "id": "0f8fad5b-d9cb-469f-a165-70867728950e", "name": "orders",
    "targets": [{"url": "http://10.0.0.5:8080", "weight": 100}, {"url": "http://[::1]:81", "weight": 0}],
    "load_balancing": "consistent_hash", "hash_on": "header:x-user",
    "connect_timeout_ms": 1500, "read_timeout_ms": 60000, "retries": 0,
    "health_check": {"path": "/healthz", "interval_ms": 1000, "unhealthy_after": 5, "healthy_after": 1},
    "tags": ["prod", "team-a"], "created_at": 1700000000, "updated_at": 1700000100})"));
}

TEST(ServiceTest, ToJsonNullsAbsentParts) {
  Service s;
  s.name = "x";
  s.targets = {{"http://x", 100}};
  json j = toJson(s);
  EXPECT_TRUE(j.at("health_check").is_null());
  EXPECT_TRUE(j.at("hash_on").is_null());
  EXPECT_EQ(j.at("load_balancing"), "round_robin");
  EXPECT_EQ(j.at("tags"), json::array());
}

TEST(ServiceTest, RoundTrips) {
  for (Service s : {fullService(), Service{}}) {
    if (s.name.empty()) {
      s.name = "minimal";
      s.targets = {{"http://m", 7}};
    }
    auto r = parseService(toJson(s));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, s);
  }
}

TEST(ServiceTest, LoadBalancingNames) {
  EXPECT_EQ(toString(LoadBalancing::kRoundRobin), "round_robin");
  EXPECT_EQ(toString(LoadBalancing::kLeastConnections), "least_connections");
  EXPECT_EQ(toString(LoadBalancing::kConsistentHash), "consistent_hash");
}

}  // namespace
}  // namespace turnpike::model
