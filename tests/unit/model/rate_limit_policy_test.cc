#include "model/rate_limit_policy.h"

#include <gtest/gtest.h>

#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using testing::expectRule;
using testing::patched;
using testing::RuleCase;

const json kBasePolicy = {{"name", "partner-tier"}, {"limit", 1000}};

class RateLimitPolicyRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(RateLimitPolicyRuleTest, ReportsTheField) {
  expectRule(parseRateLimitPolicy, kBasePolicy, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Rules, RateLimitPolicyRuleTest,
    ::testing::Values(
        RuleCase{"unknown_field", {{"per", "minute"}}, "per", "unknown field"},
        RuleCase{"id_not_uuid", {{"id", "x"}}, "id", "must be a UUID"},
        RuleCase{"name_missing", {{"name", nullptr}}, "name", "is required"},
        RuleCase{"name_bad", {{"name", "partner tier"}}, "name", "may only contain"},
        RuleCase{"limit_missing", {{"limit", nullptr}}, "limit", "is required"},
        RuleCase{"limit_zero", {{"limit", 0}}, "limit", "between 1 and 1000000000000"},
        RuleCase{"limit_negative", {{"limit", -5}}, "limit", "between 1 and 1000000000000"},
        RuleCase{
            "limit_too_big", {{"limit", 1000000000001}}, "limit", "between 1 and 1000000000000"},
        RuleCase{"limit_fraction", {{"limit", 1.5}}, "limit", "must be an integer"},
        RuleCase{"limit_string", {{"limit", "1000"}}, "limit", "must be an integer"},
        RuleCase{"window_zero", {{"window_s", 0}}, "window_s", "between 1 and 86400"},
        RuleCase{"window_too_big", {{"window_s", 86401}}, "window_s", "between 1 and 86400"},
        RuleCase{"algorithm_unknown",
                 {{"algorithm", "leaky_bucket"}},
                 "algorithm",
                 "must be one of sliding_window, fixed_window, token_bucket"},
        RuleCase{"algorithm_not_string", {{"algorithm", 2}}, "algorithm", "must be a string"},
        RuleCase{"burst_negative", {{"burst", -1}}, "burst", "between 0 and"},
        RuleCase{"burst_without_token_bucket",
                 {{"burst", 10}},
                 "burst",
                 "must be 0 unless algorithm is token_bucket"},
        RuleCase{"burst_with_fixed_window",
                 {{"burst", 10}, {"algorithm", "fixed_window"}},
                 "burst",
                 "must be 0 unless algorithm is token_bucket"},
        RuleCase{"key_by_unknown",
                 {{"key_by", "user"}},
                 "key_by",
                 "must be one of consumer, api_key, ip, route, header:<name>"},
        RuleCase{"key_by_empty_header", {{"key_by", "header:"}}, "key_by", "header name"},
        RuleCase{"key_by_bad_header", {{"key_by", "header:x:y"}}, "key_by", "header name"},
        RuleCase{"key_by_not_string", {{"key_by", json::array()}}, "key_by", "must be a string"},
        RuleCase{"tag_duplicate", {{"tags", {"t", "t"}}}, "tags[1]", "duplicate tag"}),
    testing::caseName);

TEST(RateLimitPolicyTest, MinimalBodyTakesDefaults) {
  auto r = parseRateLimitPolicy(kBasePolicy);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "partner-tier");
  EXPECT_EQ(r->limit, 1000);
  EXPECT_EQ(r->window_s, 60);
  EXPECT_EQ(r->algorithm, RateLimitAlgorithm::kSlidingWindow);
  EXPECT_EQ(r->burst, 0);
  EXPECT_EQ(r->key_by, "consumer");
}

TEST(RateLimitPolicyTest, AcceptsEveryAlgorithmAndKey) {
  for (const char* algorithm : {"sliding_window", "fixed_window", "token_bucket"}) {
    auto r = parseRateLimitPolicy(patched(kBasePolicy, {{"algorithm", algorithm}}));
    ASSERT_TRUE(r.ok()) << algorithm;
    EXPECT_EQ(toString(r->algorithm), algorithm);
  }
  for (const char* key : {"consumer", "api_key", "ip", "route", "header:x-tenant"}) {
    auto r = parseRateLimitPolicy(patched(kBasePolicy, {{"key_by", key}}));
    ASSERT_TRUE(r.ok()) << key;
    EXPECT_EQ(r->key_by, key);
  }
}

TEST(RateLimitPolicyTest, HeaderKeyIsLowerCased) {
  auto r = parseRateLimitPolicy(patched(kBasePolicy, {{"key_by", "header:X-Tenant"}}));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->key_by, "header:x-tenant");
}

TEST(RateLimitPolicyTest, BurstWithTokenBucket) {
  auto r =
      parseRateLimitPolicy(patched(kBasePolicy, {{"algorithm", "token_bucket"}, {"burst", 50}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->burst, 50);
  EXPECT_EQ(r->algorithm, RateLimitAlgorithm::kTokenBucket);
}

TEST(RateLimitPolicyTest, BoundsAreInclusive) {
  auto r =
      parseRateLimitPolicy(patched(kBasePolicy, {{"limit", 1000000000000}, {"window_s", 86400}}));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->limit, 1000000000000);
  EXPECT_TRUE(parseRateLimitPolicy(patched(kBasePolicy, {{"limit", 1}, {"window_s", 1}})).ok());
}

RateLimitPolicy fullPolicy() {
  RateLimitPolicy p;
  p.id = "f47ac10b-58cc-4372-a567-0e02b2c3d479";
  p.name = "gold";
  p.limit = 5000;
  p.window_s = 3600;
  p.algorithm = RateLimitAlgorithm::kTokenBucket;
  p.burst = 100;
  p.key_by = "header:x-tenant";
  p.tags = {"tier"};
  p.created_at = 3;
  p.updated_at = 4;
  return p;
}

TEST(RateLimitPolicyTest, ToJsonIsTheApiForm) {
  EXPECT_EQ(toJson(fullPolicy()), json::parse(R"({
    "id": "f47ac10b-58cc-4372-a567-0e02b2c3d479", "name": "gold", "limit": 5000,
    "window_s": 3600, "algorithm": "token_bucket", "burst": 100, "key_by": "header:x-tenant",
    "tags": ["tier"], "created_at": 3, "updated_at": 4})"));
}

TEST(RateLimitPolicyTest, RoundTrips) {
  RateLimitPolicy simple;
  simple.name = "s";
  simple.limit = 1;
  for (const RateLimitPolicy& p : {fullPolicy(), simple}) {
    auto r = parseRateLimitPolicy(toJson(p));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, p);
  }
}

}  // namespace
}  // namespace turnpike::model
