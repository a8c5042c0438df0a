#include "proxy/policy/key_auth.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/api_key.h"
#include "tests/unit/proxy/proxy_test_util.h"

namespace turnpike::proxy::policy {
namespace {

using testing::makeConfig;
using testing::mustBuild;
using testing::RouteDef;

constexpr const char* kAliceKey = "tpk_alice0123456789abcdefXYZ";
constexpr const char* kBobKey = "tpk_bob0123456789abcdefXYZ+/=";  // reserved characters
constexpr const char* kStaleKey = "tpk_stale0123456789abcdefXYZ";
constexpr int64_t kExpiresAt = 1'800'000'000;

model::ApiKey makeKey(std::string id, std::string consumer_id, std::string_view key,
                      std::optional<int64_t> expires_at = std::nullopt) {
  model::ApiKey k;
  k.id = std::move(id);
  k.consumer_id = std::move(consumer_id);
  k.key_hash = model::sha256Hex(key);
  k.prefix = model::keyPrefix(key);
  k.expires_at = expires_at;
  return k;
}

model::Consumer makeConsumer(std::string id, std::string username,
                             std::vector<std::string> groups) {
  model::Consumer c;
  c.id = std::move(id);
  c.username = std::move(username);
  c.groups = std::move(groups);
  return c;
}

// Routes: "open" (auth none), "keyed" (api_key, names apikey and x-api-key), "partners"
// (api_key, allow_groups partners/gold), "acl-only" (auth none, allow_groups partners).
class KeyAuthTest : public ::testing::Test {
 protected:
  KeyAuthTest() {
    model::Config config = makeConfig(
        {RouteDef("open").paths({"/open"}), RouteDef("keyed").paths({"/keyed"}),
         RouteDef("partners").paths({"/partners"}), RouteDef("acl-only").paths({"/acl"})});
    config.routes[1].auth = {model::AuthType::kApiKey, {"apikey", "x-api-key"}, true};
    config.routes[2].auth.type = model::AuthType::kApiKey;
    config.routes[2].allow_groups = {"partners", "gold"};
    config.routes[3].allow_groups = {"partners"};
    config.consumers = {makeConsumer("c-alice", "alice", {"staff", "partners"}),
                        makeConsumer("c-bob", "bob", {})};
    config.api_keys = {makeKey("k-alice", "c-alice", kAliceKey), makeKey("k-bob", "c-bob", kBobKey),
                       makeKey("k-stale", "c-alice", kStaleKey, kExpiresAt),
                       makeKey("k-orphan", "c-gone", "tpk_orphan0123456789abcdef")};
    snapshot_ = mustBuild(std::move(config));
  }

  const CompiledRoute& route(std::string_view name) const { return *snapshot_->findRoute(name); }

  KeyAuthResult auth(std::string_view route_name, std::vector<HeaderField> fields,
                     std::string_view query = {}, int64_t now = 1'700'000'000) {
    fields_ = std::move(fields);
    return authenticate(*snapshot_, route(route_name), HeaderView(fields_), query, now);
  }

  SnapshotConstSharedPtr snapshot_;
  std::vector<HeaderField> fields_;
};

TEST_F(KeyAuthTest, HeaderKey) {
  KeyAuthResult r = auth("keyed", {{"accept", "*/*"}, {"apikey", kAliceKey}});
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  ASSERT_NE(r.entry, nullptr);
  EXPECT_EQ(r.entry->key->id, "k-alice");
  EXPECT_EQ(r.entry->consumer->username(), "alice");
  EXPECT_EQ(r.entry->consumer, snapshot_->findConsumer("c-alice"));
  EXPECT_EQ(r.found_in_header, "apikey");
  EXPECT_EQ(r.found_in_query, "");
}

TEST_F(KeyAuthTest, HeaderNameIsCaseInsensitive) {
  KeyAuthResult r = auth("keyed", {{"ApiKey", kAliceKey}});
  EXPECT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.found_in_header, "apikey");  // the configured name, not the received spelling
}

TEST_F(KeyAuthTest, QueryKey) {
  std::string query = std::string("a=1&apikey=") + kAliceKey + "&b=2";
  KeyAuthResult r = auth("keyed", {{"accept", "*/*"}}, query);
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.entry->key->id, "k-alice");
  EXPECT_EQ(r.found_in_header, "");
  EXPECT_EQ(r.found_in_query, "apikey");
}

TEST_F(KeyAuthTest, PercentEncodedQueryKeyIsDecoded) {
  KeyAuthResult r = auth("keyed", {}, "apikey=tpk_bob0123456789abcdefXYZ%2B%2F%3D");
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.entry->key->id, "k-bob");
  // Sent unencoded, '+' stays '+' (not a space).
  EXPECT_EQ(auth("keyed", {}, std::string("apikey=") + kBobKey).outcome,
            AuthOutcome::kAuthenticated);
  // Headers are not decoded.
  EXPECT_EQ(auth("keyed", {{"apikey", "tpk_bob0123456789abcdefXYZ%2B%2F%3D"}}).outcome,
            AuthOutcome::kUnknown);
}

TEST_F(KeyAuthTest, HeaderWinsOverQuery) {
  // Any key name in a header beats every name in the query.
  KeyAuthResult r = auth("keyed", {{"x-api-key", kBobKey}}, std::string("apikey=") + kAliceKey);
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.entry->key->id, "k-bob");
  EXPECT_EQ(r.found_in_header, "x-api-key");
  EXPECT_EQ(r.found_in_query, "");
}

TEST_F(KeyAuthTest, SecondKeyName) {
  KeyAuthResult r = auth("keyed", {{"x-api-key", kAliceKey}});
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.found_in_header, "x-api-key");

  r = auth("keyed", {}, std::string("x-api-key=") + kAliceKey);
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.found_in_query, "x-api-key");
}

TEST_F(KeyAuthTest, FirstKeyNameWinsWhenBothArePresent) {
  KeyAuthResult r = auth("keyed", {{"x-api-key", kBobKey}, {"apikey", kAliceKey}});
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.entry->key->id, "k-alice");
  EXPECT_EQ(r.found_in_header, "apikey");
}

TEST_F(KeyAuthTest, Missing) {
  for (const auto& [fields, query] : std::vector<std::pair<std::vector<HeaderField>, std::string>>{
           {{}, ""},
           {{{"authorization", std::string_view(kAliceKey)}}, "a=1&b=2"},
           {{}, "apikeyx=1&xapikey=2"},
           {{{"apikey", ""}}, "apikey=&x-api-key"},  // empty values count as absent
       }) {
    KeyAuthResult r = auth("keyed", fields, query);
    EXPECT_EQ(r.outcome, AuthOutcome::kMissing) << query;
    EXPECT_EQ(r.entry, nullptr);
    EXPECT_EQ(r.found_in_header, "");
    EXPECT_EQ(r.found_in_query, "");
  }
}

TEST_F(KeyAuthTest, EmptyHeaderFallsBackToQuery) {
  KeyAuthResult r = auth("keyed", {{"apikey", ""}}, std::string("apikey=") + kAliceKey);
  ASSERT_EQ(r.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(r.found_in_query, "apikey");
}

TEST_F(KeyAuthTest, Unknown) {
  KeyAuthResult r = auth("keyed", {{"apikey", "tpk_not-a-real-key-at-all"}});
  EXPECT_EQ(r.outcome, AuthOutcome::kUnknown);
  EXPECT_EQ(r.entry, nullptr);
  EXPECT_EQ(r.found_in_header, "apikey");  // still removable under hide_credentials
  // A key whose consumer is missing from the snapshot is not indexed.
  EXPECT_EQ(auth("keyed", {{"apikey", "tpk_orphan0123456789abcdef"}}).outcome,
            AuthOutcome::kUnknown);
  // The hash, not a prefix, identifies a key.
  EXPECT_EQ(auth("keyed", {{"apikey", std::string(kAliceKey) + "x"}}).outcome,
            AuthOutcome::kUnknown);
}

TEST_F(KeyAuthTest, ExpiredAtTheBoundary) {
  std::vector<HeaderField> fields = {{"apikey", kStaleKey}};
  KeyAuthResult before = auth("keyed", fields, {}, kExpiresAt - 1);
  ASSERT_EQ(before.outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(before.entry->key->id, "k-stale");

  KeyAuthResult at = auth("keyed", fields, {}, kExpiresAt);
  EXPECT_EQ(at.outcome, AuthOutcome::kExpired);
  EXPECT_EQ(at.entry, nullptr);
  EXPECT_EQ(at.found_in_header, "apikey");
  EXPECT_EQ(auth("keyed", fields, {}, kExpiresAt + 1).outcome, AuthOutcome::kExpired);
  // A key without expires_at never expires.
  EXPECT_EQ(auth("keyed", {{"apikey", kAliceKey}}, {}, std::numeric_limits<int64_t>::max()).outcome,
            AuthOutcome::kAuthenticated);
}

TEST_F(KeyAuthTest, NotRequired) {
  KeyAuthResult r = auth("open", {{"apikey", kAliceKey}}, std::string("apikey=") + kAliceKey);
  EXPECT_EQ(r.outcome, AuthOutcome::kNotRequired);
  EXPECT_EQ(r.entry, nullptr);
  EXPECT_EQ(r.found_in_header, "");  // credentials are not looked at, nor hidden
  EXPECT_EQ(r.found_in_query, "");
  EXPECT_EQ(auth("open", {}).outcome, AuthOutcome::kNotRequired);
}

TEST_F(KeyAuthTest, DefaultKeyNameIsApikey) {
  EXPECT_EQ(auth("partners", {{"apikey", kAliceKey}}).outcome, AuthOutcome::kAuthenticated);
  EXPECT_EQ(auth("partners", {{"x-api-key", kAliceKey}}).outcome, AuthOutcome::kMissing);
}

TEST_F(KeyAuthTest, AllowedByGroups) {
  const CompiledConsumer* alice = snapshot_->findConsumer("c-alice");
  const CompiledConsumer* bob = snapshot_->findConsumer("c-bob");
  ASSERT_NE(alice, nullptr);
  ASSERT_NE(bob, nullptr);
  // No allow_groups: anyone who got past authentication.
  EXPECT_TRUE(allowedByGroups(route("keyed"), alice));
  EXPECT_TRUE(allowedByGroups(route("keyed"), bob));
  EXPECT_TRUE(allowedByGroups(route("open"), nullptr));
  // allow_groups: membership in any one of them.
  EXPECT_TRUE(allowedByGroups(route("partners"), alice));
  EXPECT_FALSE(allowedByGroups(route("partners"), bob));
  // allow_groups on a route without auth: nobody can be in a group, every request is refused.
  EXPECT_FALSE(allowedByGroups(route("acl-only"), nullptr));
  EXPECT_FALSE(allowedByGroups(route("partners"), nullptr));
}

TEST(KeyAuthAclTest, GroupNamesAreExact) {
  model::Config config = makeConfig({RouteDef("r").paths({"/"})});
  config.routes[0].allow_groups = {"Partners"};
  config.consumers = {makeConsumer("c1", "one", {"partners", "partners-eu"})};
  auto snapshot = mustBuild(std::move(config));
  EXPECT_FALSE(allowedByGroups(snapshot->routes()[0], snapshot->findConsumer("c1")));
}

TEST(KeyAuthQueryTest, QueryParameter) {
  EXPECT_EQ(queryParameter("apikey=abc", "apikey"), "abc");
  EXPECT_EQ(queryParameter("a=1&apikey=abc&b=2", "apikey"), "abc");
  EXPECT_EQ(queryParameter("apikey=first&apikey=second", "apikey"), "first");
  EXPECT_EQ(queryParameter("apikey=a=b", "apikey"), "a=b");
  EXPECT_EQ(queryParameter("apikey=", "apikey"), "");
  EXPECT_EQ(queryParameter("a=1&apikey", "apikey"), "");
  EXPECT_EQ(queryParameter("apikey=%41", "apikey"), "%41");  // raw
  EXPECT_EQ(queryParameter("apikeyx=1&xapikey=2&APIKEY=3", "apikey"), std::nullopt);
  EXPECT_EQ(queryParameter("api%6Bey=1", "apikey"), std::nullopt);
  EXPECT_EQ(queryParameter("", "apikey"), std::nullopt);
  EXPECT_EQ(queryParameter("&&", "apikey"), std::nullopt);
}

TEST(KeyAuthQueryTest, RemoveQueryParameter) {
  struct Case {
    std::string query;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {"a=1&apikey=x&b=2", "a=1&b=2"},
           {"apikey=x&a=1", "a=1"},                                           // first
           {"a=1&apikey=x", "a=1"},                                           // last
           {"apikey=x", ""},                                                  // only
           {"apikey=x&a=1&apikey=y&apikey", "a=1"},                           // repeated, bare
           {"apikeyx=1&xapikey=2&APIKEY=3", "apikeyx=1&xapikey=2&APIKEY=3"},  // not matched
           {"api%6Bey=1&apikey=2", "api%6Bey=1"},  // encoded names are not matched
           {"apikey=&a=&b", "a=&b"},               // empty values
           {"a=1&&b=2", "a=1&&b=2"},               // nothing to remove: unchanged
           {"a=1&&apikey=x&b=2", "a=1&&b=2"},      // empty segments kept
           {"a=apikey=1", "a=apikey=1"},           // only names are compared
           {"", ""},
       }) {
    EXPECT_EQ(removeQueryParameter(c.query, "apikey"), c.expected) << c.query;
  }
}

}  // namespace
}  // namespace turnpike::proxy::policy
