#include "model/route.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using testing::expectRule;
using testing::hasFieldError;
using testing::patched;
using testing::RuleCase;

const json kBaseRoute = {{"name", "orders-api"}, {"service", "orders"}, {"paths", {"/orders"}}};

class RouteRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RouteRuleTest, ReportsTheField) { expectRule(parseRoute, kBaseRoute, GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Rules, RouteRuleTest,
    ::testing::Values(
        RuleCase{"unknown_field", {{"upstream_url", "x"}}, "upstream_url", "unknown field"},
        RuleCase{"id_not_uuid", {{"id", "route-1"}}, "id", "must be a UUID"},
        RuleCase{"name_bad_char", {{"name", "orders api"}}, "name", "may only contain"},
        RuleCase{"name_empty", {{"name", ""}}, "name", "1 to 128"},
        RuleCase{"name_not_string", {{"name", false}}, "name", "must be a string"},
        RuleCase{"name_uuid",
                 {{"name", "123e4567-e89b-42d3-a456-426614174000"}},
                 "name",
                 "must not be a UUID"},
        RuleCase{"service_missing", {{"service", nullptr}}, "service", "is required"},
        RuleCase{"service_not_string", {{"service", 3}}, "service", "must be a string"},
        RuleCase{"service_bad_name",
                 {{"service", "my service"}},
                 "service",
                 "service id (UUID) or name"},
        RuleCase{"service_empty", {{"service", ""}}, "service", "service id (UUID) or name"},
        RuleCase{"nothing_to_match",
                 {{"paths", nullptr}},
                 "paths",
                 "at least one of hosts, paths or methods is required"},
        RuleCase{"nothing_to_match_empty_arrays",
                 {{"paths", json::array()}, {"hosts", json::array()}, {"methods", json::array()}},
                 "paths",
                 "at least one of hosts, paths or methods is required"},
        RuleCase{"hosts_not_array", {{"hosts", "a.com"}}, "hosts", "must be an array of strings"},
        RuleCase{"host_not_string", {{"hosts", {1}}}, "hosts[0]", "must be a string"},
        RuleCase{"host_empty", {{"hosts", {""}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_bad_label", {{"hosts", {"-a.com"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_underscore", {{"hosts", {"a_b.com"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_long_label",
                 {{"hosts", {std::string(64, 'a') + ".com"}}},
                 "hosts[0]",
                 "must be a host name"},
        RuleCase{"host_bare_wildcard", {{"hosts", {"*"}}}, "hosts[0]", "must be a host name"},
        RuleCase{
            "host_inner_wildcard", {{"hosts", {"api.*.com"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_trailing_wildcard",
                 {{"hosts", {"example.*"}}},
                 "hosts[0]",
                 "must be a host name"},
        RuleCase{"host_partial_wildcard",
                 {{"hosts", {"*api.example.com"}}},
                 "hosts[0]",
                 "must be a host name"},
        RuleCase{
            "host_wildcard_ip", {{"hosts", {"*.10.0.0.1"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_scheme", {{"hosts", {"http://a.com"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_path", {{"hosts", {"a.com/x"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_bad_ip", {{"hosts", {"300.0.0.1"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_port_zero", {{"hosts", {"a.com:0"}}}, "hosts[0]", "port must be between"},
        RuleCase{"host_port_big", {{"hosts", {"a.com:70000"}}}, "hosts[0]", "port must be between"},
        RuleCase{"host_port_text", {{"hosts", {"a.com:x"}}}, "hosts[0]", "must be a host name"},
        RuleCase{"host_duplicate_case",
                 {{"hosts", {"A.example.com", "a.example.com"}}},
                 "hosts[1]",
                 "duplicate host"},
        RuleCase{"paths_not_array", {{"paths", "/x"}}, "paths", "must be an array of strings"},
        RuleCase{"path_not_string", {{"paths", {"/a", 2}}}, "paths[1]", "must be a string"},
        RuleCase{
            "path_relative", {{"paths", {"orders"}}}, "paths[0]", "must start with '/' or '~/'"},
        RuleCase{"path_empty", {{"paths", {""}}}, "paths[0]", "must start with '/' or '~/'"},
        RuleCase{"path_tilde_only", {{"paths", {"~"}}}, "paths[0]", "must start with '/' or '~/'"},
        RuleCase{"path_regex_relative",
                 {{"paths", {"~v[0-9]+"}}},
                 "paths[0]",
                 "must start with '/' or '~/'"},
        RuleCase{
            "path_bad_regex", {{"paths", {"~/v[0-9"}}}, "paths[0]", "invalid regex: missing ]"},
        RuleCase{
            "path_bad_regex_paren", {{"paths", {"~/(a"}}}, "paths[0]", "invalid regex: missing )"},
        RuleCase{"path_backreference_unsupported",
                 {{"paths", {"~/(a)\\1"}}},
                 "paths[0]",
                 "invalid regex"},
        RuleCase{"path_empty_param", {{"paths", {"/users/{}"}}}, "paths[0]", "empty parameter"},
        RuleCase{"path_param_not_whole_segment",
                 {{"paths", {"/users/id-{id}"}}},
                 "paths[0]",
                 "whole segment"},
        RuleCase{
            "path_param_suffix", {{"paths", {"/users/{id}.json"}}}, "paths[0]", "whole segment"},
        RuleCase{"path_param_unclosed", {{"paths", {"/users/{id"}}}, "paths[0]", "whole segment"},
        RuleCase{
            "path_param_stray_close", {{"paths", {"/users/id}"}}}, "paths[0]", "whole segment"},
        RuleCase{"path_param_nested", {{"paths", {"/users/{{id}}"}}}, "paths[0]", "whole segment"},
        RuleCase{"path_param_bad_name",
                 {{"paths", {"/users/{1id}"}}},
                 "paths[0]",
                 "parameter name '1id'"},
        RuleCase{"path_param_dash_name",
                 {{"paths", {"/users/{user-id}"}}},
                 "paths[0]",
                 "parameter name"},
        RuleCase{"path_param_duplicate",
                 {{"paths", {"/a/{id}/b/{id}"}}},
                 "paths[0]",
                 "duplicate parameter 'id'"},
        RuleCase{"path_query", {{"paths", {"/a?x=1"}}}, "paths[0]", "query"},
        RuleCase{"path_space", {{"paths", {"/a b"}}}, "paths[0]", "spaces"},
        RuleCase{"path_duplicate", {{"paths", {"/a", "/b", "/a"}}}, "paths[2]", "duplicate path"},
        RuleCase{"methods_not_array", {{"methods", "GET"}}, "methods", "must be an array"},
        RuleCase{"method_digits", {{"methods", {"G3T"}}}, "methods[0]", "HTTP method"},
        RuleCase{"method_empty", {{"methods", {""}}}, "methods[0]", "HTTP method"},
        RuleCase{"method_dash", {{"methods", {"M-SEARCH"}}}, "methods[0]", "HTTP method"},
        RuleCase{
            "method_too_long", {{"methods", {std::string(21, 'A')}}}, "methods[0]", "HTTP method"},
        RuleCase{"method_duplicate_case",
                 {{"methods", {"get", "GET"}}},
                 "methods[1]",
                 "duplicate method"},
        RuleCase{"headers_not_object", {{"headers", {"x"}}}, "headers", "must be an object"},
        RuleCase{"header_bad_name",
                 {{"headers", {{"x version", {"2"}}}}},
                 "headers.x version",
                 "valid header name"},
        RuleCase{
            "header_empty_name", {{"headers", {{"", {"2"}}}}}, "headers.", "valid header name"},
        RuleCase{"header_host", {{"headers", {{"Host", {"a.com"}}}}}, "headers.Host", "use hosts"},
        RuleCase{"header_no_values",
                 {{"headers", {{"x-version", json::array()}}}},
                 "headers.x-version",
                 "at least one value"},
        RuleCase{"header_value_not_string",
                 {{"headers", {{"x-version", {2}}}}},
                 "headers.x-version[0]",
                 "must be a string"},
        RuleCase{"header_value_number",
                 {{"headers", {{"x-version", 2}}}},
                 "headers.x-version",
                 "string or an array of strings"},
        RuleCase{"header_duplicate_value",
                 {{"headers", {{"x-version", {"1", "1"}}}}},
                 "headers.x-version[1]",
                 "duplicate value"},
        RuleCase{"header_value_control",
                 {{"headers", {{"x-version", {"1\r\nx: y"}}}}},
                 "headers.x-version",
                 "control"},
        RuleCase{"header_duplicate_case",
                 {{"headers", {{"X-Version", {"1"}}, {"x-version", {"2"}}}}},
                 "headers.x-version",
                 "duplicate header"},
        RuleCase{"strip_path_not_bool", {{"strip_path", "yes"}}, "strip_path", "must be a boolean"},
        RuleCase{
            "preserve_host_not_bool", {{"preserve_host", 1}}, "preserve_host", "must be a boolean"},
        RuleCase{"priority_too_big",
                 {{"priority", 1000001}},
                 "priority",
                 "between -1000000 and 1000000"},
        RuleCase{"priority_too_small",
                 {{"priority", -1000001}},
                 "priority",
                 "between -1000000 and 1000000"},
        RuleCase{"priority_fraction", {{"priority", 0.5}}, "priority", "must be an integer"},
        RuleCase{"priority_string", {{"priority", "1"}}, "priority", "must be an integer"},
        RuleCase{"auth_not_object", {{"auth", "api_key"}}, "auth", "must be an object"},
        RuleCase{"auth_type_unknown",
                 {{"auth", {{"type", "jwt"}}}},
                 "auth.type",
                 "must be one of none, api_key"},
        RuleCase{
            "auth_type_not_string", {{"auth", {{"type", 1}}}}, "auth.type", "must be a string"},
        RuleCase{"auth_key_names_empty",
                 {{"auth", {{"type", "api_key"}, {"key_names", json::array()}}}},
                 "auth.key_names",
                 "must not be empty when type is api_key"},
        RuleCase{"auth_key_name_bad",
                 {{"auth", {{"type", "api_key"}, {"key_names", {"api key"}}}}},
                 "auth.key_names[0]",
                 "valid header name"},
        RuleCase{"auth_key_name_duplicate",
                 {{"auth", {{"type", "api_key"}, {"key_names", {"apikey", "apikey"}}}}},
                 "auth.key_names[1]",
                 "duplicate key name"},
        RuleCase{"auth_key_names_not_array",
                 {{"auth", {{"type", "api_key"}, {"key_names", "apikey"}}}},
                 "auth.key_names",
                 "must be an array of strings"},
        RuleCase{"auth_hide_not_bool",
                 {{"auth", {{"hide_credentials", "true"}}}},
                 "auth.hide_credentials",
                 "must be a boolean"},
        RuleCase{"auth_unknown_field",
                 {{"auth", {{"type", "none"}, {"realm", "x"}}}},
                 "auth.realm",
                 "unknown field"},
        RuleCase{"allow_groups_not_array",
                 {{"allow_groups", "partners"}},
                 "allow_groups",
                 "must be an array of strings"},
        RuleCase{"allow_group_empty", {{"allow_groups", {""}}}, "allow_groups[0]", "1 to 128"},
        RuleCase{
            "allow_group_bad", {{"allow_groups", {"a b"}}}, "allow_groups[0]", "may only contain"},
        RuleCase{"allow_group_duplicate",
                 {{"allow_groups", {"partners", "partners"}}},
                 "allow_groups[1]",
                 "duplicate group"},
        RuleCase{"policy_ref_bad",
                 {{"rate_limit_policies", {"gold tier"}}},
                 "rate_limit_policies[0]",
                 "id (UUID) or a valid name"},
        RuleCase{"policy_ref_empty",
                 {{"rate_limit_policies", {""}}},
                 "rate_limit_policies[0]",
                 "id (UUID) or a valid name"},
        RuleCase{"policy_ref_duplicate",
                 {{"rate_limit_policies", {"gold", "gold"}}},
                 "rate_limit_policies[1]",
                 "duplicate policy"},
        RuleCase{
            "policy_ref_duplicate_id_case",
            {{"rate_limit_policies",
              {"123E4567-E89B-42D3-A456-426614174000", "123e4567-e89b-42d3-a456-426614174000"}}},
            "rate_limit_policies[1]",
            "duplicate policy"},
        RuleCase{"tag_comma", {{"tags", {"a,b"}}}, "tags[0]", "','"},
        RuleCase{"tag_duplicate", {{"tags", {"a", "a"}}}, "tags[1]", "duplicate tag"},
        RuleCase{"updated_at_negative", {{"updated_at", -5}}, "updated_at", "non-negative"}),
    testing::caseName);

TEST(RouteTest, MinimalBodyTakesDefaults) {
  auto r = parseRoute({{"service", "orders"}, {"methods", {"GET"}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "");
  EXPECT_EQ(r->service, "orders");
  EXPECT_TRUE(r->hosts.empty());
  EXPECT_TRUE(r->paths.empty());
  EXPECT_EQ(r->methods, std::vector<std::string>{"GET"});
  EXPECT_TRUE(r->headers.empty());
  EXPECT_TRUE(r->strip_path);
  EXPECT_FALSE(r->preserve_host);
  EXPECT_EQ(r->priority, 0);
  EXPECT_EQ(r->auth, RouteAuth{});
  EXPECT_EQ(r->auth.key_names, std::vector<std::string>{"apikey"});
}

TEST(RouteTest, AnyOneMatcherIsEnough) {
  EXPECT_TRUE(parseRoute({{"service", "s"}, {"hosts", {"a.com"}}}).ok());
  EXPECT_TRUE(parseRoute({{"service", "s"}, {"paths", {"/"}}}).ok());
  EXPECT_TRUE(parseRoute({{"service", "s"}, {"methods", {"GET"}}}).ok());
}

TEST(RouteTest, HostsAreLowerCasedAndMayCarryWildcardsAndPorts) {
  auto r = parseRoute(
      patched(kBaseRoute, {{"hosts",
                            {"API.Example.com", "*.Example.org", "a.example.net:8443",
                             "*.example.io:80", "10.0.0.1", "[::1]:8000", "localhost"}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->hosts,
            (std::vector<std::string>{"api.example.com", "*.example.org", "a.example.net:8443",
                                      "*.example.io:80", "10.0.0.1", "[::1]:8000", "localhost"}));
}

TEST(RouteTest, HostsWithANulInsideAnAddressAreRefused) {
  // An address checked as a C string would stop at the NUL and pass; the data plane then could
  // not compile the route.
  const std::string nul(1, '\0');
  for (const std::string& host :
       {"[::8" + nul + "1]", "10.0.0.1" + nul + "x", "[::1" + nul + "]:80"}) {
    auto r = parseRoute(patched(kBaseRoute, {{"hosts", {host}}}));
    ASSERT_FALSE(r.ok()) << host;
    EXPECT_EQ(r.error().fields.at(0).field, "hosts[0]") << host;
  }
}

TEST(RouteTest, AcceptsPlainTemplatedAndRegexPaths) {
  std::vector<std::string> paths = {"/",
                                    "/orders",
                                    "/users/{id}/orders",
                                    "/a/{x}/{y_2}/{_z}",
                                    "~/v[0-9]+/items",
                                    "~/files/(?P<name>[^/]+)$",
                                    "~/a{2,3}"};
  auto r = parseRoute(patched(kBaseRoute, {{"paths", paths}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->paths, paths);
}

TEST(RouteTest, SameParamNameInDifferentPathsIsFine) {
  EXPECT_TRUE(parseRoute(patched(kBaseRoute, {{"paths", {"/a/{id}", "/b/{id}"}}})).ok());
}

TEST(RouteTest, MethodsAreUpperCased) {
  auto r = parseRoute(patched(kBaseRoute, {{"methods", {"get", "Post", "PURGE"}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->methods, (std::vector<std::string>{"GET", "POST", "PURGE"}));
}

TEST(RouteTest, HeaderNamesAreLowerCasedAndSingleValuesBecomeLists) {
  auto r = parseRoute(
      patched(kBaseRoute, {{"headers", {{"X-Version", "2"}, {"x-tenant", {"a", "b"}}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  std::map<std::string, std::vector<std::string>> expected = {{"x-version", {"2"}},
                                                              {"x-tenant", {"a", "b"}}};
  EXPECT_EQ(r->headers, expected);
}

TEST(RouteTest, ServiceIdIsLowerCased) {
  auto r = parseRoute(patched(kBaseRoute, {{"service", "123E4567-E89B-42D3-A456-426614174000"}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->service, "123e4567-e89b-42d3-a456-426614174000");
}

TEST(RouteTest, ApiKeyAuth) {
  auto r = parseRoute(patched(kBaseRoute, {{"auth",
                                            {{"type", "api_key"},
                                             {"key_names", {"X-Api-Key", "apikey"}},
                                             {"hide_credentials", true}}}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->auth.type, AuthType::kApiKey);
  EXPECT_EQ(r->auth.key_names, (std::vector<std::string>{"X-Api-Key", "apikey"}));
  EXPECT_TRUE(r->auth.hide_credentials);

  auto defaults = parseRoute(patched(kBaseRoute, {{"auth", {{"type", "api_key"}}}}));
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->auth.key_names, std::vector<std::string>{"apikey"});
}

TEST(RouteTest, PriorityBoundsAreInclusive) {
  EXPECT_EQ(parseRoute(patched(kBaseRoute, {{"priority", 1000000}}))->priority, 1000000);
  EXPECT_EQ(parseRoute(patched(kBaseRoute, {{"priority", -1000000}}))->priority, -1000000);
}

TEST(RouteTest, RegexErrorCarriesRe2Text) {
  auto r = parseRoute(patched(kBaseRoute, {{"paths", {"~/(unclosed"}}}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields.at(0).message, "invalid regex: missing ): /(unclosed");
}

TEST(RouteTest, CollectsEveryError) {
  auto r = parseRoute({{"hosts", {"bad host"}}, {"paths", {"x", "/{}"}}, {"methods", {"G1"}}});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(hasFieldError(r, "service", "is required"));
  EXPECT_TRUE(hasFieldError(r, "hosts[0]", "host name"));
  EXPECT_TRUE(hasFieldError(r, "paths[0]", "must start"));
  EXPECT_TRUE(hasFieldError(r, "paths[1]", "empty parameter"));
  EXPECT_TRUE(hasFieldError(r, "methods[0]", "HTTP method"));
  EXPECT_EQ(r.error().fields.size(), 5u) << testing::describe(r.error().fields);
  EXPECT_EQ(r.error().message, "invalid route: 5 errors");
}

TEST(RouteTest, BodyMustBeAnObject) {
  auto r = parseRoute(json::array({kBaseRoute}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields, (FieldErrors{{"", "must be a JSON object"}}));
}

Route fullRoute() {
  Route r;
  r.id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
  r.name = "orders-api";
  r.service = "0f8fad5b-d9cb-469f-a165-70867728950e";
  r.hosts = {"api.example.com", "*.example.org"};
  r.paths = {"/orders", "/users/{id}/orders", "~/v[0-9]+/items"};
  r.methods = {"GET", "POST"};
  r.headers = {{"x-version", {"2"}}, {"x-tenant", {"a", "b"}}};
  r.strip_path = false;
  r.preserve_host = true;
  r.priority = -7;
  r.protocols = {"https"};
  r.auth = {AuthType::kApiKey, {"apikey", "x-api-key"}, true};
  r.allow_groups = {"partners"};
  r.rate_limit_policies = {"f47ac10b-58cc-4372-a567-0e02b2c3d479"};
  r.tags = {"v2"};
  r.created_at = 1;
  r.updated_at = 2;
  return r;
}

TEST(RouteTest, ToJsonIsTheApiForm) {
  EXPECT_EQ(toJson(fullRoute()), json::parse(R"({
    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7", "name": "orders-api",
    "service": "0f8fad5b-d9cb-469f-a165-70867728950e",
    "hosts": ["api.example.com", "*.example.org"],
    "paths": ["/orders", "/users/{id}/orders", "~/v[0-9]+/items"],
    "methods": ["GET", "POST"], "headers": {"x-version": ["2"], "x-tenant": ["a", "b"]},
    "strip_path": false, "preserve_host": true, "priority": -7, "protocols": ["https"],
    "auth": {"type": "api_key", "key_names": ["apikey", "x-api-key"], "hide_credentials": true},
    "allow_groups": ["partners"], "rate_limit_policies": ["f47ac10b-58cc-4372-a567-0e02b2c3d479"],
    "tags": ["v2"], "created_at": 1, "updated_at": 2})"));
}

TEST(RouteTest, ToJsonNameIsNullWhenEmpty) {
  Route r = fullRoute();
  r.name.clear();
  EXPECT_TRUE(toJson(r).at("name").is_null());
  EXPECT_EQ(toJson(Route{}).at("auth"),
            json::parse(R"({"type": "none", "key_names": ["apikey"], "hide_credentials": false})"));
  EXPECT_EQ(toJson(Route{}).at("headers"), json::object());
}

TEST(RouteTest, RoundTrips) {
  Route unnamed = fullRoute();
  unnamed.name.clear();
  unnamed.auth = RouteAuth{AuthType::kNone, {}, false};
  for (const Route& route : {fullRoute(), unnamed}) {
    auto r = parseRoute(toJson(route));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, route);
  }
}

TEST(RouteProtocolsTest, DefaultToBothListenersAndAcceptEitherAlone) {
  auto plain = parseRoute(json::parse(R"({"service": "s", "paths": ["/a"]})"));
  ASSERT_TRUE(plain) << plain.error().message;
  EXPECT_EQ(plain->protocols, (std::vector<std::string>{"http", "https"}));
  auto https =
      parseRoute(json::parse(R"({"service": "s", "paths": ["/a"], "protocols": ["https"]})"));
  ASSERT_TRUE(https) << https.error().message;
  EXPECT_EQ(https->protocols, (std::vector<std::string>{"https"}));
  EXPECT_EQ(toJson(*https)["protocols"], json({"https"}));
}

TEST(RouteProtocolsTest, RefusesEmptyUnknownAndRepeatedProtocols) {
  for (const auto& [protocols, field] :
       std::vector<std::pair<std::string, std::string>>{{"[]", "protocols"},
                                                        {R"(["ftp"])", "protocols[0]"},
                                                        {R"(["HTTP"])", "protocols[0]"},
                                                        {R"(["https", "https"])", "protocols[1]"},
                                                        {R"("https")", "protocols"}}) {
    auto r = parseRoute(
        json::parse(R"({"service": "s", "paths": ["/a"], "protocols": )" + protocols + "}"));
    ASSERT_FALSE(r) << protocols;
    ASSERT_FALSE(r.error().fields.empty());
    EXPECT_EQ(r.error().fields.front().field, field) << protocols;
  }
}

}  // namespace
}  // namespace turnpike::model
