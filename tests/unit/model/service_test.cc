#include "model/service.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "tests/support/test_certificates.h"
#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using test_support::makeCertificate;
using test_support::TestCertificate;
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
        RuleCase{"target_ftp", {{"targets", target("ftp://a")}}, "targets[0].url", "http://"},
        RuleCase{"target_ws", {{"targets", target("wss://a")}}, "targets[0].url", "https://"},
        RuleCase{"target_https_path",
                 {{"targets", target("https://a.example.com/api")}},
                 "targets[0].url",
                 "must not contain a path"},
        RuleCase{"target_https_port_zero",
                 {{"targets", target("https://a:0")}},
                 "targets[0].url",
                 "port must be between 1 and 65535"},
        RuleCase{"target_https_userinfo",
                 {{"targets", target("https://u@a")}},
                 "targets[0].url",
                 "userinfo"},
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
        RuleCase{"target_duplicate_https_default_port",
                 {{"targets",
                   {{{"url", "https://a.example.com"}}, {{"url", "HTTPS://a.example.com:443"}}}}},
                 "targets[1].url",
                 "duplicate target: the same host and port as targets[0]"},
        // One port speaks TLS or it does not.
        RuleCase{"target_duplicate_across_schemes",
                 {{"targets", {{{"url", "https://a"}}, {{"url", "http://a:443"}}}}},
                 "targets[1].url",
                 "the same host and port as targets[0]"},

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
        RuleCase{"protocol_unknown",
                 {{"protocol", "http3"}},
                 "protocol",
                 "must be one of http1, http2, grpc"},
        RuleCase{"protocol_upper_case",
                 {{"protocol", "HTTP1"}},
                 "protocol",
                 "must be one of http1, http2, grpc"},
        RuleCase{"protocol_empty", {{"protocol", ""}}, "protocol", "must be one of"},
        RuleCase{"protocol_not_string", {{"protocol", 2}}, "protocol", "must be a string"},
        RuleCase{"protocol_http2",
                 {{"protocol", "http2"}},
                 "protocol",
                 "protocol \"http2\" (HTTP/2 to the targets) is not supported by this build yet"},
        RuleCase{"protocol_grpc",
                 {{"protocol", "grpc"}},
                 "protocol",
                 "protocol \"grpc\" (gRPC over HTTP/2 to the targets) is not supported"},
        RuleCase{"idle_timeout_zero",
                 {{"idle_timeout_ms", 0}},
                 "idle_timeout_ms",
                 "between 1 and 86400000"},
        RuleCase{"idle_timeout_negative",
                 {{"idle_timeout_ms", -1}},
                 "idle_timeout_ms",
                 "between 1 and 86400000"},
        RuleCase{"idle_timeout_too_big",
                 {{"idle_timeout_ms", 86400001}},
                 "idle_timeout_ms",
                 "between 1 and 86400000"},
        RuleCase{"idle_timeout_fraction",
                 {{"idle_timeout_ms", 1.5}},
                 "idle_timeout_ms",
                 "must be an integer"},
        RuleCase{"idle_timeout_string",
                 {{"idle_timeout_ms", "60s"}},
                 "idle_timeout_ms",
                 "must be an integer"},
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
        RuleCase{"tls_not_object", {{"tls", true}}, "tls", "must be an object"},
        RuleCase{
            "tls_unknown_field", {{"tls", {{"sni", "a.example.com"}}}}, "tls.sni", "unknown field"},
        RuleCase{"tls_verify_not_bool", {{"tls", {{"verify", "yes"}}}}, "tls.verify", "boolean"},
        RuleCase{"tls_ca_not_string", {{"tls", {{"ca", 1}}}}, "tls.ca", "must be a string"},
        RuleCase{"tls_ca_empty", {{"tls", {{"ca", ""}}}}, "tls.ca", "PEM certificates"},
        RuleCase{"tls_ca_not_pem",
                 {{"tls", {{"ca", "my corporate CA"}}}},
                 "tls.ca",
                 "must be one or more PEM certificates"},
        RuleCase{
            "tls_ca_garbled",
            {{"tls", {{"ca", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}}},
            "tls.ca",
            "must be one or more PEM certificates"},
        RuleCase{
            "tls_ca_a_key",
            {{"tls", {{"ca", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}}},
            "tls.ca",
            "must be one or more PEM certificates"},
        RuleCase{"tls_ca_too_long",
                 {{"tls", {{"ca", std::string(256 * 1024 + 1, 'a')}}}},
                 "tls.ca",
                 "at most 256 KiB"},
        RuleCase{"tls_server_name_not_string",
                 {{"tls", {{"server_name", false}}}},
                 "tls.server_name",
                 "must be a string"},
        RuleCase{"tls_server_name_empty",
                 {{"tls", {{"server_name", ""}}}},
                 "tls.server_name",
                 "must be a DNS host name or an IP address"},
        RuleCase{"tls_server_name_space",
                 {{"tls", {{"server_name", "a b.example.com"}}}},
                 "tls.server_name",
                 "DNS host name"},
        RuleCase{"tls_server_name_url",
                 {{"tls", {{"server_name", "https://a.example.com"}}}},
                 "tls.server_name",
                 "DNS host name"},
        RuleCase{"tls_server_name_port",
                 {{"tls", {{"server_name", "a.example.com:443"}}}},
                 "tls.server_name",
                 "DNS host name"},
        RuleCase{"tls_server_name_wildcard",
                 {{"tls", {{"server_name", "*.example.com"}}}},
                 "tls.server_name",
                 "DNS host name"},
        RuleCase{"tls_server_name_underscore",
                 {{"tls", {{"server_name", "orders_v2"}}}},
                 "tls.server_name",
                 "DNS host name"},
        RuleCase{"tls_server_name_bad_ipv4",
                 {{"tls", {{"server_name", "10.0.0.256"}}}},
                 "tls.server_name",
                 "IP address"},
        RuleCase{"tls_server_name_bracketed_ipv6",
                 {{"tls", {{"server_name", "[::1]"}}}},
                 "tls.server_name",
                 "IPv6 without brackets"},
        RuleCase{"tls_client_certificate_not_string",
                 {{"tls", {{"client_certificate", 5}}}},
                 "tls.client_certificate",
                 "must be a string"},
        RuleCase{"tls_client_certificate_empty",
                 {{"tls", {{"client_certificate", ""}}}},
                 "tls.client_certificate",
                 "must be an id (UUID) or a valid name"},
        RuleCase{"tls_client_certificate_bad_name",
                 {{"tls", {{"client_certificate", "my cert"}}}},
                 "tls.client_certificate",
                 "must be an id (UUID) or a valid name"},
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
  EXPECT_EQ(r->protocol, ServiceProtocol::kHttp1);
  EXPECT_EQ(r->idle_timeout_ms, 60000);
  EXPECT_FALSE(r->health_check.has_value());
  EXPECT_TRUE(r->tags.empty());
  EXPECT_EQ(r->id, "");
}

TEST(ServiceTest, NullMeansDefault) {
  auto r = parseService({{"name", "orders"},
                         {"targets", {{{"url", "http://orders"}, {"weight", nullptr}}}},
                         {"retries", nullptr},
                         {"protocol", nullptr},
                         {"idle_timeout_ms", nullptr},
                         {"health_check", nullptr},
                         {"hash_on", nullptr},
                         {"tags", nullptr}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->retries, 2);
  EXPECT_EQ(r->protocol, ServiceProtocol::kHttp1);
  EXPECT_EQ(r->idle_timeout_ms, 60000);
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
      {"https://10.0.0.5:8443", "https://10.0.0.5:8443"},
      {"https://Orders.Example.COM/", "https://orders.example.com"},
      {"HTTPS://[2001:DB8::1]:443", "https://[2001:db8::1]:443"},
      {"https://orders_v2", "https://orders_v2"},
  };
  for (const auto& [url, canonical] : cases) {
    auto r = parseService({{"name", "s"}, {"targets", target(url)}});
    ASSERT_TRUE(r.ok()) << url << ": " << r.error().message;
    EXPECT_EQ(r->targets[0].url, canonical) << url;
  }
}

TEST(ServiceTest, HttpAndHttpsTargetsOfOneHostAreTwoEndpoints) {
  // Ports 80 and 443: two targets, as are two https ports of one host.
  auto r = parseService({{"name", "s"},
                         {"targets",
                          {{{"url", "http://a.example.com"}},
                           {{"url", "https://a.example.com"}},
                           {{"url", "https://a.example.com:8443"}}}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->targets.size(), 3u);
  EXPECT_EQ(r->targets[0].url, "http://a.example.com");
  EXPECT_EQ(r->targets[1].url, "https://a.example.com");
  EXPECT_EQ(r->targets[2].url, "https://a.example.com:8443");
}

TEST(ServiceTest, DuplicateAfterAnInvalidTargetNamesTheRightOne) {
  auto r = parseService(
      {{"name", "s"}, {"targets", {{{"url", "http://a"}}, 7, {{"url", "http://a:80"}}}}});
  EXPECT_TRUE(hasFieldError(r, "targets[1]", "must be an object"));
  EXPECT_TRUE(hasFieldError(r, "targets[2].url", "the same host and port as targets[0]"));
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
                         {"targets", {{{"url", "ftp://a"}, {"weight", 5000}}}},
                         {"retries", "two"},
                         {"zone", "eu"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalid);
  EXPECT_EQ(r.error().fields.size(), 5u) << testing::describe(r.error().fields);
  EXPECT_EQ(r.error().message, "invalid service: 5 errors");
  EXPECT_TRUE(hasFieldError(r, "name", "may only contain"));
  EXPECT_TRUE(hasFieldError(r, "targets[0].url", "http://"));
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
  s.idle_timeout_ms = 3600000;
  s.health_check = HealthCheck{"/healthz", 1000, 5, 1};
  s.tls = ServiceTls{
      .verify = false, .server_name = "orders.internal", .client_certificate = "edge-client"};
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
    "protocol": "http1", "idle_timeout_ms": 3600000,
    "health_check": {"path": "/healthz", "interval_ms": 1000, "unhealthy_after": 5, "healthy_after": 1},
    "tls": {"verify": false, "ca": null, "server_name": "orders.internal", "client_certificate": "edge-client"},
    "tags": ["prod", "team-a"], "created_at": 1700000000, "updated_at": 1700000100})"));
}

TEST(ServiceTest, ToJsonNullsAbsentParts) {
  Service s;
  s.name = "x";
  s.targets = {{"http://x", 100}};
  json j = toJson(s);
  EXPECT_TRUE(j.at("health_check").is_null());
  EXPECT_TRUE(j.at("tls").is_null());
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

// The service `tls` object (API.md): defaults, what each field accepts, the API form.
class ServiceTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCertificate(makeCertificate({.common_name = "Upstream CA", .is_ca = true}));
    other_ca_ = new TestCertificate(makeCertificate({.common_name = "Other CA", .is_ca = true}));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete other_ca_;
  }

  static Result<Service> parseWithTls(const json& tls) {
    json body = kBaseService;
    body["targets"] = target("https://orders.internal:8443");
    body["tls"] = tls;
    return parseService(body);
  }

  static TestCertificate* ca_;
  static TestCertificate* other_ca_;
};

TestCertificate* ServiceTlsTest::ca_ = nullptr;
TestCertificate* ServiceTlsTest::other_ca_ = nullptr;

TEST_F(ServiceTlsTest, AbsentOrNullIsNoValue) {
  auto absent = parseService(kBaseService);
  ASSERT_TRUE(absent.ok()) << absent.error().message;
  EXPECT_FALSE(absent->tls.has_value());
  auto null = parseWithTls(nullptr);
  ASSERT_TRUE(null.ok()) << null.error().message;
  EXPECT_FALSE(null->tls.has_value());
}

TEST_F(ServiceTlsTest, EmptyObjectTakesTheDefaults) {
  for (const json& tls : {json::object(), json{{"verify", nullptr},
                                               {"ca", nullptr},
                                               {"server_name", nullptr},
                                               {"client_certificate", nullptr}}}) {
    auto r = parseWithTls(tls);
    ASSERT_TRUE(r.ok()) << tls.dump() << ": " << r.error().message;
    ASSERT_TRUE(r->tls.has_value());
    EXPECT_EQ(*r->tls, ServiceTls{});
    EXPECT_TRUE(r->tls->verify) << "verification is on unless turned off";
  }
}

TEST_F(ServiceTlsTest, AcceptsEveryField) {
  const std::string bundle = ca_->cert_pem + other_ca_->cert_pem;
  auto r = parseWithTls({{"verify", false},
                         {"ca", bundle},
                         {"server_name", "Orders.Internal"},
                         {"client_certificate", "edge-client"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_TRUE(r->tls.has_value());
  EXPECT_FALSE(r->tls->verify);
  EXPECT_EQ(r->tls->ca, bundle);
  EXPECT_EQ(r->tls->server_name, "orders.internal");
  EXPECT_EQ(r->tls->client_certificate, "edge-client");
}

TEST_F(ServiceTlsTest, ServerNameMayBeAnIpAddress) {
  for (const char* name : {"10.0.0.5", "::1", "2001:db8::1", "localhost", "a-b.example.com"}) {
    auto r = parseWithTls({{"server_name", name}});
    ASSERT_TRUE(r.ok()) << name << ": " << r.error().message;
    EXPECT_EQ(r->tls->server_name, name);
  }
}

TEST_F(ServiceTlsTest, ClientCertificateIdIsStoredLowerCase) {
  auto r = parseWithTls({{"client_certificate", "123E4567-E89B-42D3-A456-426614174000"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->tls->client_certificate, "123e4567-e89b-42d3-a456-426614174000");
}

TEST_F(ServiceTlsTest, ACaWithOneBadCertificateIsRefused) {
  const std::string garbled = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  EXPECT_TRUE(hasFieldError(parseWithTls({{"ca", ca_->cert_pem + garbled}}), "tls.ca",
                            "must be one or more PEM certificates"));
}

TEST_F(ServiceTlsTest, EveryErrorNamesItsField) {
  auto r = parseWithTls({{"verify", 1},
                         {"ca", "not a certificate"},
                         {"server_name", "bad name"},
                         {"client_certificate", "bad name"},
                         {"alpn", {"h2"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields.size(), 5u) << testing::describe(r.error().fields);
  EXPECT_TRUE(hasFieldError(r, "tls.verify", "must be a boolean"));
  EXPECT_TRUE(hasFieldError(r, "tls.ca", "PEM"));
  EXPECT_TRUE(hasFieldError(r, "tls.server_name", "DNS host name"));
  EXPECT_TRUE(hasFieldError(r, "tls.client_certificate", "valid name"));
  EXPECT_TRUE(hasFieldError(r, "tls.alpn", "unknown field"));
}

TEST_F(ServiceTlsTest, ToJsonWritesEveryFieldWithNullsForEmptyOnes) {
  Service s;
  s.name = "orders";
  s.targets = {{"https://orders.internal", 100}};
  s.tls = ServiceTls{};
  EXPECT_EQ(toJson(s).at("tls"), json::parse(R"({"verify": true, "ca": null,
      "server_name": null, "client_certificate": null})"));
  s.tls->ca = ca_->cert_pem;
  s.tls->server_name = "orders.internal";
  EXPECT_EQ(toJson(s).at("tls").at("ca"), ca_->cert_pem);
  EXPECT_EQ(toJson(s).at("tls").at("server_name"), "orders.internal");
  EXPECT_TRUE(toJson(s).at("tls").at("client_certificate").is_null());
}

TEST_F(ServiceTlsTest, RoundTrips) {
  Service s = fullService();
  s.targets = {{"https://10.0.0.5:8443", 100}, {"https://orders.internal", 50}};
  for (const ServiceTls& tls :
       {ServiceTls{}, ServiceTls{.ca = ca_->cert_pem + other_ca_->cert_pem},
        ServiceTls{false, ca_->cert_pem, "::1", "0f8fad5b-d9cb-469f-a165-70867728950e"}}) {
    s.tls = tls;
    auto r = parseService(toJson(s));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, s);
  }
}

// The service's `protocol` and `idle_timeout_ms` (API.md): defaults, bounds, the API form.
TEST(ServiceProtocolTest, AcceptsHttp1AndTheIdleTimeoutBounds) {
  for (int idle : {1, 60000, 86400000}) {
    json body = kBaseService;
    body["protocol"] = "http1";
    body["idle_timeout_ms"] = idle;
    auto r = parseService(body);
    ASSERT_TRUE(r.ok()) << idle << ": " << r.error().message;
    EXPECT_EQ(r->protocol, ServiceProtocol::kHttp1);
    EXPECT_EQ(r->idle_timeout_ms, idle);
  }
}

TEST(ServiceProtocolTest, Http2AndGrpcAreRefusedUntilTheProxySpeaksHttp2) {
  for (const char* protocol : {"http2", "grpc"}) {
    auto r = parseService(testing::patched(kBaseService, {{"protocol", protocol}}));
    ASSERT_FALSE(r.ok()) << protocol;
    EXPECT_EQ(r.error().fields.size(), 1u) << testing::describe(r.error().fields);
    EXPECT_TRUE(hasFieldError(r, "protocol", std::string("protocol \"") + protocol + "\""));
    EXPECT_TRUE(hasFieldError(r, "protocol", "is not supported by this build yet"));
  }
}

TEST(ServiceProtocolTest, EveryErrorNamesItsField) {
  auto r = parseService(
      testing::patched(kBaseService, {{"protocol", "h2c"}, {"idle_timeout_ms", 86400001}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields.size(), 2u) << testing::describe(r.error().fields);
  EXPECT_TRUE(hasFieldError(r, "protocol", "must be one of http1, http2, grpc"));
  EXPECT_TRUE(hasFieldError(r, "idle_timeout_ms", "must be between 1 and 86400000"));
}

TEST(ServiceProtocolTest, ToJsonWritesEveryProtocolByName) {
  Service s;
  s.name = "x";
  s.targets = {{"http://x", 100}};
  EXPECT_EQ(toJson(s).at("protocol"), "http1");
  EXPECT_EQ(toJson(s).at("idle_timeout_ms"), 60000);
  s.protocol = ServiceProtocol::kHttp2;
  EXPECT_EQ(toJson(s).at("protocol"), "http2");
  s.protocol = ServiceProtocol::kGrpc;
  EXPECT_EQ(toJson(s).at("protocol"), "grpc");
}

TEST(ServiceProtocolTest, ADocumentWithoutTheFieldsTakesTheDefaults) {
  // What the store holds for services written before the fields existed.
  json old = toJson(fullService());
  old.erase("protocol");
  old.erase("idle_timeout_ms");
  auto r = parseService(old);
  ASSERT_TRUE(r.ok()) << r.error().message;
  Service expected = fullService();
  expected.idle_timeout_ms = 60000;
  EXPECT_EQ(*r, expected);
}

TEST(ServiceProtocolTest, EqualityComparesTheFields) {
  Service a = fullService();
  Service b = a;
  b.idle_timeout_ms = 59999;
  EXPECT_NE(a, b);
  b = a;
  b.protocol = ServiceProtocol::kGrpc;
  EXPECT_NE(a, b);
}

TEST(ServiceProtocolTest, Names) {
  EXPECT_EQ(toString(ServiceProtocol::kHttp1), "http1");
  EXPECT_EQ(toString(ServiceProtocol::kHttp2), "http2");
  EXPECT_EQ(toString(ServiceProtocol::kGrpc), "grpc");
}

TEST(ServiceTest, LoadBalancingNames) {
  EXPECT_EQ(toString(LoadBalancing::kRoundRobin), "round_robin");
  EXPECT_EQ(toString(LoadBalancing::kLeastConnections), "least_connections");
  EXPECT_EQ(toString(LoadBalancing::kConsistentHash), "consistent_hash");
}

}  // namespace
}  // namespace turnpike::model
