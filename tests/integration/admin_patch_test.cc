// PATCH is an RFC 7396 JSON merge patch (API.md "Conventions"): members replace, null removes
// (a field with a default goes back to it), objects merge recursively, arrays replace whole.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

class AdminPatchTest : public AdminSuiteTest {
 protected:
  // A service with every optional part set, so that patches have something to merge into.
  json makeRichService() {
    json body = {{"name", uniqueName("patch")},
                 {"targets",
                  {{{"url", "http://10.0.0.5:8080"}, {"weight", 30}},
                   {{"url", "http://10.0.0.6:8080"}, {"weight", 70}}}},
                 {"load_balancing", "least_connections"},
                 {"connect_timeout_ms", 1000},
                 {"read_timeout_ms", 9000},
                 {"retries", 5},
                 {"health_check",
                  {{"path", "/healthz"},
                   {"interval_ms", 2000},
                   {"unhealthy_after", 4},
                   {"healthy_after", 3}}},
                 {"tags", {"a", "b"}}};
    return mustCreate("/services", body);
  }

  // PATCHes `target` with `patch`; expects 200 and returns the entity.
  json mustPatch(const std::string& target, const json& patch) {
    Response r = admin().patch(target, patch);
    EXPECT_EQ(r.status, 200) << "PATCH " << target << " " << patch.dump() << "\n" << r;
    return r.json();
  }

  // Only `changed` differs between `before` and `after` (besides updated_at).
  static void expectOnlyChanged(const json& before, const json& after, const json& changed) {
    json expected = before;
    expected.merge_patch(changed);
    EXPECT_EQ(without(after, {"updated_at"}), without(expected, {"updated_at"}));
  }
};

TEST_F(AdminPatchTest, ChangesOnlyTheGivenMembers) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  const std::string item = "/services/" + s["name"].get<std::string>();
  const int64_t v = storedVersion();
  Response r = admin().patch(item, {{"retries", 1}});
  ASSERT_EQ(r.status, 200) << r;
  json after = r.json();
  expectOnlyChanged(s, after, {{"retries", 1}});
  EXPECT_EQ(after["id"], s["id"]);
  EXPECT_EQ(after["created_at"], s["created_at"]);
  EXPECT_GE(after["updated_at"].get<int64_t>(), s["updated_at"].get<int64_t>());
  EXPECT_TRUE(hasConfigVersion(r, v + 1));
  EXPECT_FALSE(r.headerOr("ETag").empty());
  EXPECT_EQ(mustGet(item), after);
}

TEST_F(AdminPatchTest, NestedObjectsMerge) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  const std::string item = "/services/" + s["name"].get<std::string>();
  json after = mustPatch(item, {{"health_check", {{"interval_ms", 750}}}});
  EXPECT_EQ(after["health_check"], json({{"path", "/healthz"},
                                         {"interval_ms", 750},
                                         {"unhealthy_after", 4},
                                         {"healthy_after", 3}}));
  expectOnlyChanged(s, after, {{"health_check", {{"interval_ms", 750}}}});
}

TEST_F(AdminPatchTest, NullRemovesAnOptionalObject) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  const std::string item = "/services/" + s["name"].get<std::string>();
  json after = mustPatch(item, {{"health_check", nullptr}});
  EXPECT_TRUE(after["health_check"].is_null()) << after;
  EXPECT_TRUE(mustGet(item)["health_check"].is_null());
  EXPECT_EQ(after["retries"], 5);
}

TEST_F(AdminPatchTest, NullResetsAFieldToItsDefault) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  const std::string item = "/services/" + s["name"].get<std::string>();
  json after = mustPatch(item, {{"retries", nullptr},
                                {"connect_timeout_ms", nullptr},
                                {"load_balancing", nullptr},
                                {"tags", nullptr}});
  EXPECT_EQ(after["retries"], 2);
  EXPECT_EQ(after["connect_timeout_ms"], 2000);
  EXPECT_EQ(after["load_balancing"], "round_robin");
  EXPECT_EQ(after["tags"], json::array());
  EXPECT_EQ(after["read_timeout_ms"], 9000) << "untouched members stay";
}

TEST_F(AdminPatchTest, ArraysReplaceWhole) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  const std::string item = "/services/" + s["name"].get<std::string>();
  json after = mustPatch(item, {{"targets", {{{"url", "http://10.0.0.9:9000"}}}}});
  EXPECT_EQ(after["targets"], json::parse(R"([{"url": "http://10.0.0.9:9000", "weight": 100}])"));
  after = mustPatch(item, {{"tags", {"c"}}});
  EXPECT_EQ(after["tags"], json({"c"}));
}

TEST_F(AdminPatchTest, RouteMapsMergeByKeyAndNullRemovesAKey) {
  const std::string svc = uniqueName("pr-svc");
  ASSERT_TRUE(mustCreate("/services", serviceBody(svc)).is_object());
  json body = routeBody(uniqueName("pr"), svc);
  body["headers"] = {{"x-b", {"2"}}};
  body["auth"] = {
      {"type", "none"}, {"key_names", {"apikey", "x-api-key"}}, {"hide_credentials", true}};
  json r = mustCreate("/routes", body);
  ASSERT_TRUE(r.is_object());
  const std::string item = "/routes/" + r["name"].get<std::string>();

  json after = mustPatch(item, {{"headers", {{"x-a", {"1"}}}}});
  EXPECT_EQ(after["headers"], json({{"x-a", {"1"}}, {"x-b", {"2"}}}));
  after = mustPatch(item, {{"headers", {{"x-b", nullptr}}}});
  EXPECT_EQ(after["headers"], json({{"x-a", {"1"}}}));

  after = mustPatch(item, {{"auth", {{"type", "api_key"}}}});
  EXPECT_EQ(after["auth"], json({{"type", "api_key"},
                                 {"key_names", {"apikey", "x-api-key"}},
                                 {"hide_credentials", true}}));
  EXPECT_EQ(after["service"], r["service"]);
  EXPECT_EQ(after["paths"], r["paths"]);
}

TEST_F(AdminPatchTest, ConsumerOptionalStringNullClears) {
  json c = mustCreate(
      "/consumers",
      {{"username", uniqueName("pc")}, {"custom_id", "crm-1"}, {"groups", {"g1", "g2"}}});
  ASSERT_TRUE(c.is_object());
  const std::string item = "/consumers/" + c["username"].get<std::string>();
  json after = mustPatch(item, {{"custom_id", nullptr}});
  EXPECT_TRUE(after["custom_id"].is_null()) << after;
  EXPECT_EQ(after["groups"], json({"g1", "g2"}));
  after = mustPatch(item, {{"groups", {"g3"}}});
  EXPECT_EQ(after["groups"], json({"g3"}));
}

TEST_F(AdminPatchTest, PatchCanRename) {
  json s = mustCreate("/services", serviceBody(uniqueName("old-name")));
  ASSERT_TRUE(s.is_object());
  const std::string old_name = s["name"];
  const std::string new_name = uniqueName("new-name");
  json after = mustPatch("/services/" + old_name, {{"name", new_name}});
  EXPECT_EQ(after["name"], new_name);
  EXPECT_EQ(after["id"], s["id"]);
  EXPECT_EQ(admin().get("/services/" + new_name).status, 200);
  EXPECT_TRUE(isProblem(admin().get("/services/" + old_name), 404));
}

TEST_F(AdminPatchTest, InvalidResultIsRefusedAndChangesNothing) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  const std::string item = "/services/" + s["name"].get<std::string>();
  const int64_t v = storedVersion();

  Response empty_targets = admin().patch(item, {{"targets", json::array()}});
  EXPECT_TRUE(isProblem(empty_targets, 400));
  EXPECT_TRUE(namesField(empty_targets, "targets"));

  Response bad_nested = admin().patch(item, {{"health_check", {{"interval_ms", "often"}}}});
  EXPECT_TRUE(isProblem(bad_nested, 400));
  EXPECT_TRUE(namesField(bad_nested, "health_check.interval_ms"));

  Response unknown = admin().patch(item, {{"colour", "red"}});
  EXPECT_TRUE(isProblem(unknown, 400));
  EXPECT_TRUE(namesField(unknown, "colour"));

  Response no_name = admin().patch(item, {{"name", nullptr}});
  EXPECT_TRUE(isProblem(no_name, 400)) << "a service's name is required";

  EXPECT_TRUE(isProblem(admin().request("PATCH", item, "[1]"), 400));
  EXPECT_TRUE(isProblem(admin().request("PATCH", item, "{"), 400));

  EXPECT_EQ(mustGet(item), s);
  EXPECT_EQ(storedVersion(), v);
}

TEST_F(AdminPatchTest, MergePatchContentTypeIsAccepted) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  Response r =
      admin().request("PATCH", "/services/" + s["name"].get<std::string>(), R"({"retries": 0})",
                      {{"Content-Type", "application/merge-patch+json"}});
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(r.json()["retries"], 0);
}

TEST_F(AdminPatchTest, EmptyPatchKeepsTheEntity) {
  json s = makeRichService();
  ASSERT_TRUE(s.is_object());
  Response r = admin().patch("/services/" + s["name"].get<std::string>(), json::object());
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_EQ(without(r.json(), {"updated_at"}), without(s, {"updated_at"}));
}

}  // namespace
}  // namespace turnpike::test_support
