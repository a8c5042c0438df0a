#include "model/consumer.h"

#include <gtest/gtest.h>

#include <string>

#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using testing::expectRule;
using testing::RuleCase;

const json kBase = {{"username", "acme-mobile"}};

class ConsumerRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(ConsumerRuleTest, ReportsTheField) { expectRule(parseConsumer, kBase, GetParam()); }

INSTANTIATE_TEST_SUITE_P(
    Rules, ConsumerRuleTest,
    ::testing::Values(
        RuleCase{"unknown_field", {{"name", "acme"}}, "name", "unknown field"},
        RuleCase{"id_not_uuid", {{"id", "1"}}, "id", "must be a UUID"},
        RuleCase{"username_missing", {{"username", nullptr}}, "username", "is required"},
        RuleCase{"username_not_string", {{"username", 1}}, "username", "must be a string"},
        RuleCase{"username_empty", {{"username", ""}}, "username", "1 to 128"},
        RuleCase{
            "username_too_long", {{"username", std::string(129, 'u')}}, "username", "1 to 128"},
        RuleCase{"username_space",
                 {{"username", "acme mobile"}},
                 "username",
                 "may only contain letters, digits and . _ ~ - @"},
        RuleCase{"username_uuid",
                 {{"username", "123e4567-e89b-42d3-a456-426614174000"}},
                 "username",
                 "must not be a UUID"},
        RuleCase{"custom_id_not_string", {{"custom_id", 4711}}, "custom_id", "must be a string"},
        RuleCase{"custom_id_empty", {{"custom_id", ""}}, "custom_id", "1 to 256"},
        RuleCase{
            "custom_id_too_long", {{"custom_id", std::string(257, 'c')}}, "custom_id", "1 to 256"},
        RuleCase{"custom_id_control", {{"custom_id", "a\tb"}}, "custom_id", "control"},
        RuleCase{
            "groups_not_array", {{"groups", "partners"}}, "groups", "must be an array of strings"},
        RuleCase{"group_not_string", {{"groups", {true}}}, "groups[0]", "must be a string"},
        RuleCase{"group_bad_name", {{"groups", {"ok", "not ok"}}}, "groups[1]", "may only contain"},
        RuleCase{"group_at", {{"groups", {"a@b"}}}, "groups[0]", "may only contain"},
        RuleCase{"group_duplicate", {{"groups", {"a", "a"}}}, "groups[1]", "duplicate group"},
        RuleCase{"policy_ref_bad",
                 {{"rate_limit_policies", {"gold/tier"}}},
                 "rate_limit_policies[0]",
                 "id (UUID) or a valid name"},
        RuleCase{"policy_ref_duplicate",
                 {{"rate_limit_policies", {"gold", "gold"}}},
                 "rate_limit_policies[1]",
                 "duplicate policy"},
        RuleCase{"tags_not_array", {{"tags", 1}}, "tags", "must be an array of strings"},
        RuleCase{"tag_comma", {{"tags", {"x,y"}}}, "tags[0]", "','"},
        RuleCase{"created_at_float", {{"created_at", 1.5}}, "created_at", "must be an integer"}),
    testing::caseName);

TEST(ConsumerTest, UsernameMayHoldAt) {
  auto r = parseConsumer({{"username", "ops@example.com"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->username, "ops@example.com");
  EXPECT_EQ(r->custom_id, "");
}

TEST(ConsumerTest, CustomIdIsFreeTextUpTo256Characters) {
  std::string text = "CRM 4711 / Ünïcödé";
  auto r = parseConsumer({{"username", "u"}, {"custom_id", text}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->custom_id, text);
  EXPECT_TRUE(parseConsumer({{"username", "u"}, {"custom_id", std::string(256, 'c')}}).ok());
  // 256 two-byte characters are 256 characters, not 512.
  std::string umlauts;
  for (int i = 0; i < 256; ++i) umlauts += "ü";
  EXPECT_TRUE(parseConsumer({{"username", "u"}, {"custom_id", umlauts}}).ok());
}

TEST(ConsumerTest, PolicyIdsAreLowerCased) {
  auto r =
      parseConsumer({{"username", "u"},
                     {"rate_limit_policies", {"F47AC10B-58CC-4372-A567-0E02B2C3D479", "gold"}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->rate_limit_policies,
            (std::vector<std::string>{"f47ac10b-58cc-4372-a567-0e02b2c3d479", "gold"}));
}

TEST(ConsumerTest, BodyMustBeAnObject) {
  auto r = parseConsumer(json("acme"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields, (FieldErrors{{"", "must be a JSON object"}}));
  EXPECT_EQ(r.error().message, "invalid consumer: must be a JSON object");
}

Consumer fullConsumer() {
  Consumer c;
  c.id = "16fd2706-8baf-433b-82eb-8c7fada847da";
  c.username = "acme-mobile";
  c.custom_id = "crm-4711";
  c.groups = {"partners", "beta"};
  c.rate_limit_policies = {"f47ac10b-58cc-4372-a567-0e02b2c3d479"};
  c.tags = {"acme"};
  c.created_at = 10;
  c.updated_at = 20;
  return c;
}

TEST(ConsumerTest, ToJsonIsTheApiForm) {
  EXPECT_EQ(toJson(fullConsumer()), json::parse(R"({
    "id": "16fd2706-8baf-433b-82eb-8c7fada847da", "username": "acme-mobile",
    "custom_id": "crm-4711", "groups": ["partners", "beta"],
    "rate_limit_policies": ["f47ac10b-58cc-4372-a567-0e02b2c3d479"], "tags": ["acme"],
    "created_at": 10, "updated_at": 20})"));
  Consumer bare = fullConsumer();
  bare.custom_id.clear();
  EXPECT_TRUE(toJson(bare).at("custom_id").is_null());
}

TEST(ConsumerTest, RoundTrips) {
  Consumer bare;
  bare.username = "x@y";
  for (const Consumer& c : {fullConsumer(), bare}) {
    auto r = parseConsumer(toJson(c));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, c);
  }
}

}  // namespace
}  // namespace turnpike::model
