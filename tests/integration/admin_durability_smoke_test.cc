// A write acknowledged with 2xx is durable: it survives `kill -9` of the server and a restart
// on the same database (DESIGN.md: SQLite WAL, synchronous=FULL).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

TEST(AdminDurabilitySmokeTest, AcknowledgedWritesSurviveKill9) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();

  // A mix of writes, each acknowledged before the next.
  const std::string svc = uniqueName("durable");
  Response created = admin.post("/services", serviceBody(svc));
  ASSERT_EQ(created.status, 201) << created;
  Response patched = admin.patch("/services/" + svc, {{"retries", 4}, {"tags", {"kept"}}});
  ASSERT_EQ(patched.status, 200) << patched;
  const std::string route = uniqueName("durable-route");
  ASSERT_EQ(admin.post("/routes", routeBody(route, svc)).status, 201);
  const std::string user = uniqueName("durable-user");
  ASSERT_EQ(admin.post("/consumers", consumerBody(user)).status, 201);
  Response key = admin.post("/consumers/" + user + "/keys", json::object());
  ASSERT_EQ(key.status, 201) << key;
  const std::string gone = uniqueName("gone");
  ASSERT_EQ(admin.post("/rate-limit-policies", policyBody(gone)).status, 201);
  Response deleted = admin.del("/rate-limit-policies/" + gone);
  ASSERT_EQ(deleted.status, 204) << deleted;
  const std::string last_version = deleted.headerOr("X-Config-Version");
  ASSERT_FALSE(last_version.empty());
  const json config = admin.get("/config").json();

  tp.kill9();
  ASSERT_FALSE(tp.running());
  ASSERT_TRUE(tp.restart());
  HttpClient after = tp.adminClient();

  Response s = after.get("/services/" + svc);
  ASSERT_EQ(s.status, 200) << s;
  EXPECT_EQ(s.json(), patched.json());
  EXPECT_EQ(s.headerOr("ETag"), patched.headerOr("ETag"));
  EXPECT_EQ(after.get("/routes/" + route).status, 200);
  EXPECT_EQ(after.get("/consumers/" + user + "/keys/" + key.json().value("id", "")).status, 200);
  EXPECT_EQ(after.get("/rate-limit-policies/" + gone).status, 404);
  EXPECT_EQ(std::to_string(after.get("/status").json().value("config_version", -1)), last_version);
  EXPECT_EQ(after.get("/config").json(), config);
}

TEST(AdminDurabilitySmokeTest, ABurstOfWritesSurvivesKill9RightAfterTheLastAnswer) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();
  const std::string tag = uniqueName("burst");
  std::vector<std::string> names;
  std::string last_version;
  for (int i = 0; i < 25; ++i) {
    json body = consumerBody(uniqueName("burst"));
    body["tags"] = {tag};
    Response r = admin.post("/consumers", body);
    ASSERT_EQ(r.status, 201) << r;
    names.push_back(body["username"]);
    last_version = r.headerOr("X-Config-Version");
  }
  tp.kill9();
  ASSERT_TRUE(tp.restart());
  HttpClient after = tp.adminClient();
  json listed = after.get("/consumers?size=1000&tags=" + tag).json();
  EXPECT_EQ(listed["data"].size(), names.size()) << listed;
  EXPECT_EQ(std::to_string(after.get("/status").json().value("config_version", -1)), last_version);
  // And the restarted server takes new writes, continuing the version sequence.
  Response next = after.post("/services", serviceBody(uniqueName("after-crash")));
  ASSERT_EQ(next.status, 201) << next;
  EXPECT_EQ(next.headerOr("X-Config-Version"), std::to_string(std::stoll(last_version) + 1));
}

TEST(AdminDurabilitySmokeTest, SigtermStopsCleanlyAndKeepsEverything) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();
  const std::string svc = uniqueName("graceful");
  ASSERT_EQ(admin.post("/services", serviceBody(svc)).status, 201);
  tp.stop();
  EXPECT_TRUE(tp.exitedCleanly()) << "wait status " << tp.lastWaitStatus() << "\n"
                                  << tp.stderrText();
  ASSERT_TRUE(tp.restart());
  EXPECT_EQ(tp.adminClient().get("/services/" + svc).status, 200);
}

}  // namespace
}  // namespace turnpike::test_support
