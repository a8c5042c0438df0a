// API keys (API.md "/consumers/{c}/keys"): the key is shown in the create response only, the
// store keeps its SHA-256, a caller may bring its own key of at least 20 characters, and
// DELETE revokes.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/admin_fixture.h"
#include "tests/support/sha256.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

class AdminKeysTest : public AdminSuiteTest {
 protected:
  std::string makeConsumer() {
    const std::string user = uniqueName("keys");
    EXPECT_TRUE(mustCreate("/consumers", consumerBody(user)).is_object());
    return user;
  }
};

TEST_F(AdminKeysTest, KeyIsShownAtCreationOnly) {
  const std::string user = makeConsumer();
  const int64_t v0 = storedVersion();
  Response created = admin().post("/consumers/" + user + "/keys", json::object());
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_EQ(created.headerOr("Cache-Control"), "no-store") << created;
  json body = created.json();
  ASSERT_TRUE(body["key"].is_string()) << body;
  const std::string key = body["key"];
  EXPECT_TRUE(key.starts_with("tpk_")) << key;
  EXPECT_GE(key.size(), 40u) << "32 random bytes make a long key: " << key;
  EXPECT_EQ(body["prefix"], key.substr(0, 8));
  const std::string key_id = body["id"];

  // Nowhere else: key list, single key, consumer, export, history, metrics, logs.
  const std::string keys = "/consumers/" + user + "/keys";
  for (const std::string& target :
       {keys, keys + "/" + key_id, "/consumers/" + user, std::string("/config"),
        std::string("/config/history?size=1000"), "/config/history/" + std::to_string(v0 + 1),
        std::string("/metrics"), std::string("/status")}) {
    Response r = admin().get(target);
    EXPECT_EQ(r.status, 200) << "GET " << target << "\n" << r;
    EXPECT_EQ(r.body.find(key), std::string::npos) << "GET " << target << " shows the key";
    EXPECT_EQ(r.body.find(key.substr(4)), std::string::npos) << "GET " << target;
  }
  json listed = mustGet(keys)["data"];
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_FALSE(listed[0].contains("key")) << listed;
  EXPECT_EQ(listed[0]["prefix"], key.substr(0, 8));
  EXPECT_FALSE(mustGet(keys + "/" + key_id).contains("key"));

  // The export holds the key's SHA-256.
  bool found = false;
  for (json config = mustGet("/config"); const auto& k : config["api_keys"]) {
    if (k["id"] == key_id) {
      found = true;
      EXPECT_EQ(k["key_hash"], sha256Hex(key)) << k;
    }
  }
  EXPECT_TRUE(found) << "GET /config has no api_keys entry for " << key_id;

  // Nor in the logs or the database file.
  EXPECT_EQ(process().stdoutText().find(key), std::string::npos) << "stdout shows the key";
  EXPECT_EQ(process().stderrText().find(key), std::string::npos) << "stderr shows the key";
  const std::string db = readFile(process().dbPath()) + readFile(process().dbPath() + "-wal");
  EXPECT_EQ(db.find(key), std::string::npos) << "the database holds the plaintext key";
}

TEST_F(AdminKeysTest, GeneratedKeysDiffer) {
  const std::string user = makeConsumer();
  json a = mustCreate("/consumers/" + user + "/keys", json::object());
  json b = mustCreate("/consumers/" + user + "/keys", json::object());
  ASSERT_TRUE(a.is_object() && b.is_object());
  EXPECT_NE(a["key"], b["key"]);
  EXPECT_NE(a["id"], b["id"]);
}

TEST_F(AdminKeysTest, CallerSuppliedKeyOf20OrMoreCharactersIsAccepted) {
  const std::string user = makeConsumer();
  const std::string key = "legacy-" + randomToken();  // 44 characters
  Response r = admin().post("/consumers/" + user + "/keys", {{"key", key}});
  ASSERT_EQ(r.status, 201) << r;
  EXPECT_EQ(r.json()["key"], key);
  EXPECT_EQ(r.json()["prefix"], key.substr(0, 8));
  EXPECT_EQ(r.headerOr("Cache-Control"), "no-store");

  const std::string exactly20 = randomToken().substr(0, 20);
  ASSERT_EQ(exactly20.size(), 20u);
  Response r20 = admin().post("/consumers/" + user + "/keys", {{"key", exactly20}});
  EXPECT_EQ(r20.status, 201) << r20;

  // The stored hash is the supplied key's.
  const std::string id = r.json()["id"];
  for (json config = mustGet("/config"); const auto& k : config["api_keys"]) {
    if (k["id"] == id) {
      EXPECT_EQ(k["key_hash"], sha256Hex(key));
    }
  }
}

TEST_F(AdminKeysTest, CallerSuppliedKeyShorterThan20IsRefusedNamingKey) {
  const std::string user = makeConsumer();
  const int64_t v = storedVersion();
  Response r = admin().post("/consumers/" + user + "/keys", {{"key", "short-key-19-chars!"}});
  EXPECT_TRUE(isProblem(r, 400));
  EXPECT_TRUE(namesField(r, "key"));
  EXPECT_EQ(r.body.find("short-key-19-chars!"), std::string::npos)
      << "a refused key is not echoed back";
  Response empty_ish = admin().post("/consumers/" + user + "/keys", {{"key", 12345}});
  EXPECT_TRUE(isProblem(empty_ish, 400));
  EXPECT_TRUE(namesField(empty_ish, "key"));
  EXPECT_EQ(mustGet("/consumers/" + user + "/keys")["data"], json::array());
  EXPECT_EQ(storedVersion(), v);
}

TEST_F(AdminKeysTest, TheSameKeyTwiceIsRefused) {
  const std::string key = "dup-" + randomToken();
  const std::string a = makeConsumer(), b = makeConsumer();
  ASSERT_EQ(admin().post("/consumers/" + a + "/keys", {{"key", key}}).status, 201);
  Response again = admin().post("/consumers/" + b + "/keys", {{"key", key}});
  EXPECT_TRUE(again.status == 409 || again.status == 400) << again;
  EXPECT_TRUE(isProblem(again, again.status));
  EXPECT_EQ(again.body.find(key), std::string::npos) << "the key is not echoed back";
}

TEST_F(AdminKeysTest, ExpiryAndTagsAreKept) {
  const std::string user = makeConsumer();
  const int64_t expires = 4102444800;  // 2100-01-01
  json k = mustCreate("/consumers/" + user + "/keys", {{"expires_at", expires}, {"tags", {"ci"}}});
  ASSERT_TRUE(k.is_object());
  EXPECT_EQ(k["expires_at"], expires);
  json got = mustGet("/consumers/" + user + "/keys/" + k["id"].get<std::string>());
  EXPECT_EQ(got["expires_at"], expires);
  EXPECT_EQ(got["tags"], json({"ci"}));
}

TEST_F(AdminKeysTest, RevokeRemovesTheKeyAtOnce) {
  const std::string user = makeConsumer();
  json keep = mustCreate("/consumers/" + user + "/keys", json::object());
  json drop = mustCreate("/consumers/" + user + "/keys", json::object());
  ASSERT_TRUE(keep.is_object() && drop.is_object());
  const std::string drop_id = drop["id"];
  const int64_t v = storedVersion();

  Response r = admin().del("/consumers/" + user + "/keys/" + drop_id);
  ASSERT_EQ(r.status, 204) << r;
  EXPECT_TRUE(hasConfigVersion(r, v + 1));
  EXPECT_TRUE(isProblem(admin().get("/consumers/" + user + "/keys/" + drop_id), 404));
  json listed = mustGet("/consumers/" + user + "/keys")["data"];
  ASSERT_EQ(listed.size(), 1u) << listed;
  EXPECT_EQ(listed[0]["id"], keep["id"]);
  for (json config = mustGet("/config"); const auto& k : config["api_keys"])
    EXPECT_NE(k["id"], drop_id);
  EXPECT_TRUE(isProblem(admin().del("/consumers/" + user + "/keys/" + drop_id), 404));

  json latest = mustGet("/config/history?size=1")["data"][0];
  EXPECT_EQ(latest["version"], v + 1);
  EXPECT_EQ(latest["action"], "delete");
}

TEST_F(AdminKeysTest, AKeyBelongsToItsConsumer) {
  const std::string owner = makeConsumer(), other = makeConsumer();
  json k = mustCreate("/consumers/" + owner + "/keys", json::object());
  ASSERT_TRUE(k.is_object());
  const std::string id = k["id"];
  EXPECT_TRUE(isProblem(admin().get("/consumers/" + other + "/keys/" + id), 404));
  EXPECT_TRUE(isProblem(admin().del("/consumers/" + other + "/keys/" + id), 404));
  EXPECT_EQ(admin().get("/consumers/" + owner + "/keys/" + id).status, 200);
}

TEST_F(AdminKeysTest, DeletingAConsumerRevokesItsKeys) {
  const std::string user = makeConsumer();
  json k = mustCreate("/consumers/" + user + "/keys", json::object());
  ASSERT_TRUE(k.is_object());
  ASSERT_EQ(admin().del("/consumers/" + user).status, 204);
  for (json config = mustGet("/config"); const auto& key : config["api_keys"])
    EXPECT_NE(key["id"], k["id"]);
  EXPECT_TRUE(isProblem(admin().get("/consumers/" + user + "/keys"), 404));
  // A new consumer of the same name starts without keys.
  ASSERT_TRUE(mustCreate("/consumers", consumerBody(user)).is_object());
  EXPECT_EQ(mustGet("/consumers/" + user + "/keys")["data"], json::array());
}

}  // namespace
}  // namespace turnpike::test_support
