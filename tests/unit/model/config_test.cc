#include "model/config.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>

#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using testing::expectRule;
using testing::hasFieldError;
using testing::RuleCase;

const char kHash[] = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

json validService(const std::string& name) {
  return {{"name", name}, {"targets", {{{"url", "http://" + name}}}}};
}

class ConfigRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(ConfigRuleTest, ReportsTheField) { expectRule(parseConfig, json::object(), GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Rules, ConfigRuleTest,
    ::testing::Values(
        RuleCase{"unknown_top_level", {{"upstreams", json::array()}}, "upstreams", "unknown field"},
        RuleCase{"version_not_integer", {{"version", "7"}}, "version", "must be an integer"},
        RuleCase{
            "services_not_array", {{"services", json::object()}}, "services", "must be an array"},
        RuleCase{"routes_not_array", {{"routes", "x"}}, "routes", "must be an array"},
        RuleCase{"consumers_not_array", {{"consumers", 1}}, "consumers", "must be an array"},
        RuleCase{"api_keys_not_array", {{"api_keys", true}}, "api_keys", "must be an array"},
        RuleCase{"policies_not_array",
                 {{"rate_limit_policies", "x"}},
                 "rate_limit_policies",
                 "must be an array"},
        RuleCase{"service_not_object", {{"services", {1}}}, "services[0]", "must be a JSON object"},
        RuleCase{"service_field",
                 {{"services",
                   {validService("a"), {{"name", "b"}, {"targets", {{{"url", "ftp://b"}}}}}}}},
                 "services[1].targets[0].url",
                 "must be an http://host[:port] or https://host[:port] URL"},
        RuleCase{"service_tls_field",
                 {{"services",
                   {validService("a"),
                    {{"name", "b"},
                     {"targets", {{{"url", "https://b"}}}},
                     {"tls", {{"server_name", "not a host"}}}}}}},
                 "services[1].tls.server_name",
                 "DNS host name"},
        RuleCase{"service_protocol_http2",
                 {{"services",
                   {validService("a"),
                    {{"name", "b"}, {"targets", {{{"url", "http://b"}}}}, {"protocol", "http2"}}}}},
                 "services[1].protocol",
                 "is not supported by this build yet"},
        RuleCase{
            "service_idle_timeout",
            {{"services",
              {{{"name", "b"}, {"targets", {{{"url", "http://b"}}}}, {"idle_timeout_ms", 0}}}}},
            "services[0].idle_timeout_ms",
            "between 1 and 86400000"},
        RuleCase{"route_path",
                 {{"routes", {{{"service", "a"}, {"paths", {"/ok", "bad"}}}}}},
                 "routes[0].paths[1]",
                 "must start with '/' or '~/'"},
        RuleCase{"route_unknown_nested",
                 {{"routes", {{{"service", "a"}, {"paths", {"/"}}, {"auth", {{"kind", "x"}}}}}}},
                 "routes[0].auth.kind",
                 "unknown field"},
        RuleCase{"consumer_username",
                 {{"consumers", {{{"username", "a b"}}}}},
                 "consumers[0].username",
                 "may only contain"},
        RuleCase{"api_key_hash",
                 {{"api_keys", {{{"consumer", "acme"}, {"key_hash", "abc"}}}}},
                 "api_keys[0].key_hash",
                 "64 lower-case hex"},
        RuleCase{"policy_limit",
                 {{"rate_limit_policies", {{{"name", "p"}, {"limit", 0}}}}},
                 "rate_limit_policies[0].limit",
                 "between 1 and"},
        RuleCase{"duplicate_service_name",
                 {{"services", {validService("a"), validService("a")}}},
                 "services[1].name",
                 "duplicate name"},
        RuleCase{"duplicate_service_id",
                 {{"services",
                   {testing::patched(validService("a"),
                                     {{"id", "16fd2706-8baf-433b-82eb-8c7fada847da"}}),
                    testing::patched(validService("b"),
                                     {{"id", "16fd2706-8baf-433b-82eb-8c7fada847da"}})}}},
                 "services[1].id",
                 "duplicate id"},
        RuleCase{"duplicate_consumer_username",
                 {{"consumers", {{{"username", "u"}}, {{"username", "u"}}}}},
                 "consumers[1].username",
                 "duplicate username"},
        RuleCase{"duplicate_key_hash",
                 {{"api_keys",
                   {{{"consumer", "u"}, {"key_hash", kHash}},
                    {{"consumer", "v"}, {"key_hash", kHash}}}}},
                 "api_keys[1].key_hash",
                 "duplicate key_hash"},
        RuleCase{"duplicate_route_name",
                 {{"routes",
                   {{{"name", "r"}, {"service", "a"}, {"paths", {"/a"}}},
                    {{"name", "r"}, {"service", "a"}, {"paths", {"/b"}}}}}},
                 "routes[1].name",
                 "duplicate name"},
        RuleCase{"duplicate_policy_name",
                 {{"rate_limit_policies",
                   {{{"name", "p"}, {"limit", 1}}, {{"name", "p"}, {"limit", 2}}}}},
                 "rate_limit_policies[1].name",
                 "duplicate name"}),
    testing::caseName);

TEST(ConfigTest, EveryCollectionIsOptional) {
  auto r = parseConfig(json::object());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, Config{});
}

TEST(ConfigTest, UnnamedRoutesAreNotDuplicates) {
  auto r = parseConfig(
      {{"routes", {{{"service", "a"}, {"paths", {"/a"}}}, {{"service", "a"}, {"paths", {"/b"}}}}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->routes.size(), 2u);
}

TEST(ConfigTest, BodyMustBeAnObject) {
  auto r = parseConfig(json::array());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields, (FieldErrors{{"", "must be a JSON object"}}));
}

TEST(ConfigTest, CollectsErrorsAcrossCollections) {
  auto r = parseConfig({{"services", {{{"name", "s"}}}},
                        {"routes", {{{"service", "s"}, {"paths", {"x"}}}}},
                        {"extra", 1}});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(hasFieldError(r, "services[0].targets", "at least one target"));
  EXPECT_TRUE(hasFieldError(r, "routes[0].paths[0]", "must start"));
  EXPECT_TRUE(hasFieldError(r, "extra", "unknown field"));
  EXPECT_EQ(r.error().message, "invalid config: 3 errors");
}

Config fullConfig() {
  Config c;
  c.version = 0;  // parseConfig ignores "version": the store assigns the next one
  Service s;
  s.id = "0f8fad5b-d9cb-469f-a165-70867728950e";
  s.name = "orders";
  s.targets = {{"http://10.0.0.5:8080", 100}};
  s.health_check = HealthCheck{};
  s.tags = {"prod"};
  s.created_at = 1;
  s.updated_at = 2;
  c.services.push_back(s);
  Route r;
  r.id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
  r.service = s.id;
  r.paths = {"/orders", "/users/{id}"};
  r.hosts = {"*.example.org"};
  r.headers = {{"x-version", {"2"}}};
  r.auth.type = AuthType::kApiKey;
  r.allow_groups = {"partners"};
  r.rate_limit_policies = {"f47ac10b-58cc-4372-a567-0e02b2c3d479"};
  c.routes.push_back(r);
  Consumer consumer;
  consumer.id = "16fd2706-8baf-433b-82eb-8c7fada847da";
  consumer.username = "acme";
  consumer.groups = {"partners"};
  c.consumers.push_back(consumer);
  ApiKey key;
  key.id = "9b2b2c3e-2d6f-4f6a-8d8c-1f0e2f3a4b5c";
  key.consumer_id = consumer.id;
  key.key_hash = kHash;
  key.prefix = "tpk_AbC1";
  key.created_at = 5;
  c.api_keys.push_back(key);
  RateLimitPolicy p;
  p.id = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
  p.name = "gold";
  p.limit = 100;
  c.rate_limit_policies.push_back(p);
  return c;
}

TEST(ConfigTest, ToJsonHoldsEveryCollectionAndKeyHashes) {
  Config c = fullConfig();
  c.version = 42;
  json j = toJson(c);
  EXPECT_EQ(j.at("version"), 42);
  EXPECT_EQ(j.at("services"), json::array({toJson(c.services[0])}));
  EXPECT_EQ(j.at("routes"), json::array({toJson(c.routes[0])}));
  EXPECT_EQ(j.at("consumers"), json::array({toJson(c.consumers[0])}));
  EXPECT_EQ(j.at("rate_limit_policies"), json::array({toJson(c.rate_limit_policies[0])}));
  EXPECT_EQ(j.at("api_keys").at(0).at("key_hash"), kHash);
  EXPECT_EQ(j.at("certificates"), json::array());
  EXPECT_EQ(j.size(), 7u);
  EXPECT_EQ(toJson(Config{}).at("services"), json::array());
}

TEST(ConfigTest, RoundTrips) {
  Config c = fullConfig();
  auto r = parseConfig(toJson(c));
  ASSERT_TRUE(r.ok()) << r.error().message << testing::describe(r.error().fields);
  EXPECT_EQ(*r, c);
}

TEST(ConfigTest, VersionIsAcceptedAndIgnored) {
  Config c = fullConfig();
  c.version = 42;
  auto r = parseConfig(toJson(c));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->version, 0);
  c.version = 0;
  EXPECT_EQ(*r, c);
}

}  // namespace
}  // namespace turnpike::model

namespace turnpike::model {
namespace {

// Every leaf of a full export, replaced in turn by each odd value: parsing never throws, every
// error names a message, and whatever is accepted survives toJson -> parse unchanged.
TEST(ConfigTest, MutatedDocumentsNeverThrowAndAcceptedOnesRoundTrip) {
  const json odd[] = {nullptr,
                      true,
                      -1,
                      0,
                      1.5,
                      1e300,
                      std::numeric_limits<uint64_t>::max(),
                      "",
                      "X-Y",
                      "http://[::1]:99999",
                      "~/(",
                      json::array(),
                      json::array({"a", "a"}),
                      json::object(),
                      json::object({{"k", "v"}})};
  Config config = fullConfig();
  config.routes[0].name = "r";
  json base = toJson(config);
  json flat = base.flatten();
  int accepted = 0;
  for (const auto& [pointer, leaf] : flat.items()) {
    for (const json& value : odd) {
      json doc = base;
      doc[json::json_pointer(pointer)] = value;
      Result<Config> r = Error::internal("unset");
      ASSERT_NO_THROW(r = parseConfig(doc)) << pointer << " = " << value.dump();
      if (!r) {
        for (const FieldError& e : r.error().fields) EXPECT_FALSE(e.message.empty());
        continue;
      }
      ++accepted;
      auto again = parseConfig(toJson(*r));
      ASSERT_TRUE(again.ok()) << pointer << " = " << value.dump() << ": " << again.error().message;
      EXPECT_EQ(*again, *r) << pointer << " = " << value.dump();
    }
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace turnpike::model
