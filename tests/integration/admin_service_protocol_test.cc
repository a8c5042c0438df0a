// A service's protocol and idle_timeout_ms through the real binary (API.md, "Services also take
// protocol and idle_timeout_ms"): the defaults in every answer, both fields set, changed by a
// merge patch and reset by a PUT, each bad value a 400 naming its field, http2 and grpc refused
// on `protocol` while the proxy speaks only HTTP/1.1 to targets (nothing stored, the proxy still
// taking later changes), and GET /config -> PUT /config, history and restore carrying the fields.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

class AdminServiceProtocolTest : public AdminSuiteTest {
 protected:
  static json bodyWith(const std::string& name, const json& fields) {
    json body = serviceBody(name);
    body.update(fields);
    return body;
  }

  // The index of the service `name` in a GET /config document; the size when absent.
  static std::size_t indexOf(const json& config, const std::string& name) {
    for (std::size_t i = 0; i < config["services"].size(); ++i) {
      if (config["services"][i]["name"] == name) return i;
    }
    return config["services"].size();
  }
};

TEST_F(AdminServiceProtocolTest, AnswersTheDefaultsWhenLeftOut) {
  const std::string name = uniqueName("proto-default");
  json created = mustCreate("/services", serviceBody(name));
  ASSERT_TRUE(created.is_object());
  EXPECT_EQ(created["protocol"], "http1");
  EXPECT_EQ(created["idle_timeout_ms"], 60000);
  json got = mustGet("/services/" + name);
  EXPECT_EQ(got["protocol"], "http1");
  EXPECT_EQ(got["idle_timeout_ms"], 60000);

  // null is the default as well.
  json nulls = mustCreate(
      "/services",
      bodyWith(uniqueName("proto-null"), {{"protocol", nullptr}, {"idle_timeout_ms", nullptr}}));
  ASSERT_TRUE(nulls.is_object());
  EXPECT_EQ(nulls["protocol"], "http1");
  EXPECT_EQ(nulls["idle_timeout_ms"], 60000);
}

TEST_F(AdminServiceProtocolTest, SetsPatchesAndReplacesBothFields) {
  const std::string name = uniqueName("proto-set");
  Response created =
      admin().post("/services", bodyWith(name, {{"protocol", "http1"}, {"idle_timeout_ms", 1500}}));
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_EQ(created.json()["protocol"], "http1");
  EXPECT_EQ(created.json()["idle_timeout_ms"], 1500);
  EXPECT_EQ(mustGet("/services/" + name)["idle_timeout_ms"], 1500);

  // The upper bound is a day.
  Response patched = admin().patch("/services/" + name, {{"idle_timeout_ms", 86400000}});
  ASSERT_EQ(patched.status, 200) << patched;
  EXPECT_EQ(patched.json()["idle_timeout_ms"], 86400000);
  EXPECT_EQ(patched.json()["protocol"], "http1");

  // A PUT replaces the whole service: what it leaves out goes back to the default.
  Response replaced = admin().put("/services/" + name, serviceBody(name));
  ASSERT_EQ(replaced.status, 200) << replaced;
  EXPECT_EQ(replaced.json()["idle_timeout_ms"], 60000);
  EXPECT_EQ(mustGet("/services/" + name)["idle_timeout_ms"], 60000);
}

TEST_F(AdminServiceProtocolTest, BadValuesAre400NamingTheFieldAndStoreNothing) {
  const std::string existing = uniqueName("proto-existing");
  ASSERT_TRUE(mustCreate("/services", serviceBody(existing)).is_object());
  const int64_t version = storedVersion();
  const std::string name = uniqueName("proto-bad");

  for (const json& protocol :
       {json("http3"), json("HTTP1"), json(""), json(2), json::array({"http1"})}) {
    Response r = admin().post("/services", bodyWith(name, {{"protocol", protocol}}));
    EXPECT_EQ(r.status, 400) << protocol.dump() << "\n" << r;
    EXPECT_TRUE(isProblem(r, 400));
    EXPECT_TRUE(namesField(r, "protocol")) << protocol.dump() << "\n" << r;
  }
  for (const json& idle : {json(0), json(-1), json(86400001), json("60s"), json(1.5)}) {
    Response r = admin().post("/services", bodyWith(name, {{"idle_timeout_ms", idle}}));
    EXPECT_EQ(r.status, 400) << idle.dump() << "\n" << r;
    EXPECT_TRUE(namesField(r, "idle_timeout_ms")) << idle.dump() << "\n" << r;
  }
  Response both =
      admin().post("/services", bodyWith(name, {{"protocol", "h2c"}, {"idle_timeout_ms", 0}}));
  EXPECT_EQ(both.status, 400) << both;
  EXPECT_TRUE(namesField(both, "protocol")) << both;
  EXPECT_TRUE(namesField(both, "idle_timeout_ms")) << both;

  Response patch = admin().patch("/services/" + existing, {{"idle_timeout_ms", 0}});
  EXPECT_EQ(patch.status, 400) << patch;
  EXPECT_TRUE(namesField(patch, "idle_timeout_ms")) << patch;

  EXPECT_EQ(admin().get("/services/" + name).status, 404);
  EXPECT_EQ(mustGet("/services/" + existing)["idle_timeout_ms"], 60000);
  EXPECT_EQ(storedVersion(), version);
}

TEST_F(AdminServiceProtocolTest, Http2AndGrpcAreRefusedOnProtocolUntilTheProxySpeaksHttp2) {
  const std::string existing = uniqueName("proto-existing");
  ASSERT_TRUE(mustCreate("/services", serviceBody(existing)).is_object());
  const int64_t version = storedVersion();
  const std::string name = uniqueName("proto-h2");

  for (const char* protocol : {"http2", "grpc"}) {
    for (Response r : {admin().post("/services", bodyWith(name, {{"protocol", protocol}})),
                       admin().put("/services/" + name, bodyWith(name, {{"protocol", protocol}})),
                       admin().patch("/services/" + existing, {{"protocol", protocol}})}) {
      EXPECT_EQ(r.status, 400) << protocol << "\n" << r;
      EXPECT_TRUE(isProblem(r, 400));
      EXPECT_TRUE(namesField(r, "protocol")) << protocol << "\n" << r;
      EXPECT_THAT(r.body, HasSubstr("is not supported by this build yet")) << r;
      EXPECT_THAT(r.body, HasSubstr(std::string("protocol \\\"") + protocol + "\\\"")) << r;
    }
  }

  Response exported = admin().get("/config");
  ASSERT_EQ(exported.status, 200) << exported;
  json config = exported.json();
  const std::size_t index = indexOf(config, existing);
  ASSERT_LT(index, config["services"].size());
  config["services"][index]["protocol"] = "http2";
  Response imported = admin().put("/config", config);
  EXPECT_EQ(imported.status, 400) << imported;
  EXPECT_TRUE(namesField(imported, "services[" + std::to_string(index) + "].protocol")) << imported;

  EXPECT_EQ(admin().get("/services/" + name).status, 404);
  EXPECT_EQ(mustGet("/services/" + existing)["protocol"], "http1");
  EXPECT_EQ(storedVersion(), version);

  // Nothing the proxy cannot build was stored: the next write is served.
  Response next = admin().post("/services?wait_for_proxy=true", serviceBody(name));
  EXPECT_EQ(next.status, 201) << next;
  json status = mustGet("/status");
  EXPECT_TRUE(status["proxy"]["last_build"]["error"].is_null()) << status.dump();
}

TEST_F(AdminServiceProtocolTest, ConfigExportImportHistoryAndRestoreCarryTheFields) {
  const std::string name = uniqueName("proto-config");
  ASSERT_TRUE(mustCreate("/services", bodyWith(name, {{"idle_timeout_ms", 4321}})).is_object());
  const int64_t created_at = storedVersion();

  Response exported = admin().get("/config");
  ASSERT_EQ(exported.status, 200) << exported;
  json config = exported.json();
  const std::size_t index = indexOf(config, name);
  ASSERT_LT(index, config["services"].size()) << config;
  EXPECT_EQ(config["services"][index]["protocol"], "http1");
  EXPECT_EQ(config["services"][index]["idle_timeout_ms"], 4321);

  Response same = admin().put("/config", config);
  ASSERT_EQ(same.status, 200) << same;
  EXPECT_EQ(same.json()["changes"], json::array()) << same;
  EXPECT_EQ(storedVersion(), created_at);

  config["services"][index]["idle_timeout_ms"] = 120000;
  Response changed = admin().put("/config", config);
  ASSERT_EQ(changed.status, 200) << changed;
  ASSERT_EQ(changed.json()["changes"].size(), 1u) << changed;
  EXPECT_EQ(changed.json()["changes"][0]["before"]["idle_timeout_ms"], 4321);
  EXPECT_EQ(changed.json()["changes"][0]["after"]["idle_timeout_ms"], 120000);
  EXPECT_EQ(mustGet("/services/" + name)["idle_timeout_ms"], 120000);

  json entry = mustGet("/config/history/" + std::to_string(storedVersion()));
  ASSERT_TRUE(entry.is_object());
  ASSERT_EQ(entry["changes"].size(), 1u) << entry;
  EXPECT_EQ(entry["changes"][0]["after"]["idle_timeout_ms"], 120000);

  Response restored =
      admin().request("POST", "/config/history/" + std::to_string(created_at) + "/restore");
  ASSERT_EQ(restored.status, 200) << restored;
  json back = mustGet("/services/" + name);
  EXPECT_EQ(back["idle_timeout_ms"], 4321);
  EXPECT_EQ(back["protocol"], "http1");
}

}  // namespace
}  // namespace turnpike::test_support
