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
  KeyAuthTest() { snapshot_ = mustBuild(config()); }

  static model::Config config() {
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
    return config;
  }

  const CompiledRoute& route(std::string_view name) const { return *snapshot_->findRoute(name); }

  KeyAuthResult auth(std::string_view route_name, std::vector<HeaderField> fields,
                     std::string_view query = {}, int64_t now = 1'700'000'000) {
    fields_ = std::move(fields);
    const HeaderView headers(fields_);
    KeyAuthResult hashed = authenticate(*snapshot_, route(route_name), headers, query, now);
    // A worker's VerifiedKeys changes nothing a caller sees, the first time or from memory.
    for (int time = 0; time < 2; ++time) {
      KeyAuthResult remembered =
          authenticate(*snapshot_, route(route_name), headers, query, now, &verified_);
      EXPECT_EQ(remembered.outcome, hashed.outcome);
      EXPECT_EQ(remembered.entry, hashed.entry);
      EXPECT_EQ(remembered.found_in_header, hashed.found_in_header);
      EXPECT_EQ(remembered.found_in_query, hashed.found_in_query);
    }
    return hashed;
  }

  SnapshotConstSharedPtr snapshot_;
  std::vector<HeaderField> fields_;
  VerifiedKeys verified_;
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

TEST_F(KeyAuthTest, VerifiedKeysRememberOnlyKeysTheSnapshotHolds) {
  VerifiedKeys verified;
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(verified.find(*snapshot_, "tpk_guess" + std::to_string(i)), nullptr);
  }
  EXPECT_EQ(verified.size(), 0u);  // guessing cannot grow it
  const KeyEntry* alice = verified.find(*snapshot_, kAliceKey);
  ASSERT_NE(alice, nullptr);
  EXPECT_EQ(alice->key->id, "k-alice");
  EXPECT_EQ(verified.size(), 1u);
  EXPECT_EQ(verified.find(*snapshot_, kAliceKey), alice);
  // A key that differs in one character, or is a prefix, is not the remembered one.
  std::string near = kAliceKey;
  near.back() = 'Q';
  EXPECT_EQ(verified.find(*snapshot_, near), nullptr);
  near = kAliceKey;
  near[10] = 'Q';
  EXPECT_EQ(verified.find(*snapshot_, near), nullptr);
  EXPECT_EQ(verified.find(*snapshot_, std::string_view(kAliceKey).substr(1)), nullptr);
}

TEST_F(KeyAuthTest, VerifiedKeysForgetARevokedKeyOnTheNextSnapshot) {
  VerifiedKeys verified;
  ASSERT_NE(verified.find(*snapshot_, kAliceKey), nullptr);
  model::Config revoked = config();
  std::erase_if(revoked.api_keys, [](const model::ApiKey& k) { return k.id == "k-alice"; });
  SnapshotConstSharedPtr next = mustBuild(std::move(revoked));
  EXPECT_EQ(verified.find(*next, kAliceKey), nullptr);
  EXPECT_EQ(verified.size(), 0u);
  // A request that pinned the older snapshot before the change still sees the key it had.
  const KeyEntry* old = verified.find(*snapshot_, kAliceKey);
  ASSERT_NE(old, nullptr);
  EXPECT_EQ(old, snapshot_->findKey(model::sha256Hex(kAliceKey)));
  EXPECT_NE(verified.find(*next, kBobKey), nullptr);

  // The worker's sweep forgets them too, without waiting for a request.
  EXPECT_EQ(verified.size(), 1u);
  SnapshotConstSharedPtr newest = mustBuild(config());
  verified.forgetUnless(*newest);
  EXPECT_EQ(verified.size(), 0u);
  verified.forgetUnless(*next);  // an older one: nothing to do
  EXPECT_NE(verified.find(*newest, kAliceKey), nullptr);
}

TEST_F(KeyAuthTest, VerifiedKeysStartOverWhenFull) {
  VerifiedKeys verified(/*capacity=*/2);
  for (int round = 0; round < 3; ++round) {
    for (const char* key : {kAliceKey, kBobKey, kStaleKey}) {
      const KeyEntry* entry = verified.find(*snapshot_, key);
      ASSERT_NE(entry, nullptr) << key;
      EXPECT_EQ(entry, snapshot_->findKey(model::sha256Hex(key)));
      EXPECT_LE(verified.size(), 2u);
    }
  }
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
