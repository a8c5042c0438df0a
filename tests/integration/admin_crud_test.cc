// CRUD of every admin resource over HTTP against the real binary (API.md "Conventions" and
// "Resources"): status codes, Location, ETag, X-Config-Version counting one per write, and
// addressing by id and by name.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <string>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

bool looksLikeUuid(const json& v) {
  static const std::regex kUuid(
      "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return v.is_string() && std::regex_match(v.get<std::string>(), kUuid);
}

// One top-level resource: how to make a valid body and one change to apply with PUT/PATCH.
struct ResourceCase {
  std::string label;       // test name suffix
  std::string collection;  // "/services"
  std::string name_field;  // "name" / "username"
  // Makes a valid body named `name`. A route needs a service: `helper` is its name.
  json (*body)(const std::string& name, const std::string& helper);
  std::string changed_field;
  json changed_value;
};

std::ostream& operator<<(std::ostream& os, const ResourceCase& c) { return os << c.label; }

const ResourceCase kCases[] = {
    {"services", "/services", "name",
     [](const std::string& n, const std::string&) { return serviceBody(n); }, "retries", 7},
    {"routes", "/routes", "name",
     [](const std::string& n, const std::string& svc) { return routeBody(n, svc); }, "priority", 5},
    {"consumers", "/consumers", "username",
     [](const std::string& n, const std::string&) { return consumerBody(n); }, "custom_id",
     "crm-4711"},
    {"policies", "/rate-limit-policies", "name",
     [](const std::string& n, const std::string&) { return policyBody(n); }, "limit", 250},
};

class AdminCrudTest : public AdminSuiteTest, public ::testing::WithParamInterface<ResourceCase> {
 protected:
  // A service for routes to point at (by name).
  std::string helperService() {
    std::string name = uniqueName("crud-helper");
    json created = mustCreate("/services", serviceBody(name));
    return created.is_object() ? name : "";
  }
};

TEST_P(AdminCrudTest, CreateReadUpdateDeleteCountsVersionsAndAddressesByIdAndName) {
  const ResourceCase& c = GetParam();
  std::string helper = c.collection == "/routes" ? helperService() : "";
  const std::string name = uniqueName("crud");
  const int64_t v0 = storedVersion();
  ASSERT_GE(v0, 0);

  // Create.
  Response created = admin().post(c.collection, c.body(name, helper));
  ASSERT_EQ(created.status, 201) << created;
  json entity = created.json();
  ASSERT_TRUE(entity.is_object()) << created;
  EXPECT_TRUE(looksLikeUuid(entity["id"])) << entity;
  EXPECT_EQ(entity[c.name_field], name);
  const std::string id = entity.value("id", "");
  EXPECT_EQ(created.headerOr("Location"), c.collection + "/" + id) << created;
  const std::string etag = created.headerOr("ETag");
  EXPECT_TRUE(etag.size() >= 3 && etag.front() == '"' && etag.back() == '"')
      << "an ETag is a quoted string (RFC 9110 8.8.3): " << etag;
  EXPECT_TRUE(hasConfigVersion(created, v0 + 1));
  EXPECT_TRUE(created.headerOr("Content-Type").starts_with("application/json")) << created;
  ASSERT_TRUE(entity["created_at"].is_number_integer()) << entity;
  EXPECT_GT(entity["created_at"].get<int64_t>(), 1600000000);
  EXPECT_EQ(entity["updated_at"], entity["created_at"]);
  EXPECT_EQ(entity["tags"], json::array());
  EXPECT_EQ(storedVersion(), v0 + 1);

  // Read by Location, by id and by name: the same entity and the same ETag.
  for (const std::string& target :
       {created.headerOr("Location"), c.collection + "/" + id, c.collection + "/" + name}) {
    Response got = admin().get(target);
    ASSERT_EQ(got.status, 200) << "GET " << target << "\n" << got;
    EXPECT_EQ(got.json(), entity) << "GET " << target;
    EXPECT_EQ(got.headerOr("ETag"), created.headerOr("ETag")) << "GET " << target;
  }

  // The list holds it.
  json list = mustGet(c.collection + "?size=1000");
  bool listed = false;
  for (const auto& e : list["data"]) listed = listed || e["id"] == id;
  EXPECT_TRUE(listed) << "GET " << c.collection << " does not list " << id;

  // Replace by name (PUT): same id and created_at, the change applied, a new ETag.
  json replacement = c.body(name, helper);
  replacement[c.changed_field] = c.changed_value;
  Response put = admin().put(c.collection + "/" + name, replacement);
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_TRUE(hasConfigVersion(put, v0 + 2));
  json after_put = put.json();
  EXPECT_EQ(after_put["id"], id);
  EXPECT_EQ(after_put["created_at"], entity["created_at"]);
  EXPECT_EQ(after_put[c.changed_field], c.changed_value);
  EXPECT_NE(put.headerOr("ETag"), created.headerOr("ETag"));
  EXPECT_FALSE(put.hasHeader("Location")) << "PUT of an existing entity is not a create";

  // Change by id (PATCH).
  Response patched = admin().patch(c.collection + "/" + id, {{"tags", {"crud"}}});
  ASSERT_EQ(patched.status, 200) << patched;
  EXPECT_TRUE(hasConfigVersion(patched, v0 + 3));
  EXPECT_EQ(patched.json()["tags"], json({"crud"}));
  EXPECT_EQ(patched.json()[c.changed_field], c.changed_value);
  EXPECT_EQ(mustGet(c.collection + "/" + name), patched.json());
  EXPECT_EQ(storedVersion(), v0 + 3);

  // Delete by id: 204 without a body, then 404 by id and by name.
  Response deleted = admin().del(c.collection + "/" + id);
  ASSERT_EQ(deleted.status, 204) << deleted;
  EXPECT_TRUE(deleted.body.empty()) << deleted;
  EXPECT_TRUE(hasConfigVersion(deleted, v0 + 4));
  EXPECT_TRUE(isProblem(admin().get(c.collection + "/" + id), 404));
  EXPECT_TRUE(isProblem(admin().get(c.collection + "/" + name), 404));
  EXPECT_EQ(storedVersion(), v0 + 4);
}

TEST_P(AdminCrudTest, PutCreatesWhenAbsent) {
  const ResourceCase& c = GetParam();
  std::string helper = c.collection == "/routes" ? helperService() : "";
  const std::string name = uniqueName("put-new");
  const int64_t v0 = storedVersion();

  Response put = admin().put(c.collection + "/" + name, c.body(name, helper));
  ASSERT_EQ(put.status, 201) << put;
  json entity = put.json();
  EXPECT_TRUE(looksLikeUuid(entity["id"])) << entity;
  EXPECT_EQ(entity[c.name_field], name);
  EXPECT_EQ(put.headerOr("Location"), c.collection + "/" + entity.value("id", ""));
  EXPECT_FALSE(put.headerOr("ETag").empty());
  EXPECT_TRUE(hasConfigVersion(put, v0 + 1));
  EXPECT_EQ(mustGet(c.collection + "/" + name), entity);
}

TEST_P(AdminCrudTest, CallerSuppliedIdIsKept) {
  const ResourceCase& c = GetParam();
  std::string helper = c.collection == "/routes" ? helperService() : "";
  const std::string wanted = randomUuid();
  json body = c.body(uniqueName("with-id"), helper);
  body["id"] = wanted;
  Response created = admin().post(c.collection, body);
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_EQ(created.json()["id"], wanted);
  EXPECT_EQ(created.headerOr("Location"), c.collection + "/" + wanted);
  EXPECT_EQ(mustGet(c.collection + "/" + wanted)["id"], wanted);
}

TEST_P(AdminCrudTest, EtagTracksChangesAndIfMatchWithTheCurrentTagSucceeds) {
  const ResourceCase& c = GetParam();
  std::string helper = c.collection == "/routes" ? helperService() : "";
  const std::string name = uniqueName("etag");
  Response created = admin().post(c.collection, c.body(name, helper));
  ASSERT_EQ(created.status, 201) << created;
  const std::string tag = created.headerOr("ETag");

  Response patched =
      admin().patch(c.collection + "/" + name, {{"tags", {"one"}}}, {{"If-Match", tag}});
  ASSERT_EQ(patched.status, 200) << patched;
  const std::string tag2 = patched.headerOr("ETag");
  EXPECT_NE(tag2, tag);
  EXPECT_EQ(admin().get(c.collection + "/" + name).headerOr("ETag"), tag2);

  json replacement = c.body(name, helper);
  Response put = admin().put(c.collection + "/" + name, replacement, {{"If-Match", tag2}});
  ASSERT_EQ(put.status, 200) << put;
  Response deleted = admin().del(c.collection + "/" + name, {{"If-Match", put.headerOr("ETag")}});
  EXPECT_EQ(deleted.status, 204) << deleted;
}

INSTANTIATE_TEST_SUITE_P(Resources, AdminCrudTest, ::testing::ValuesIn(kCases),
                         [](const auto& info) { return info.param.label; });

class AdminCrudDetailsTest : public AdminSuiteTest {};

TEST_F(AdminCrudDetailsTest, ServiceDefaultsFollowApiMd) {
  const std::string name = uniqueName("defaults");
  json s = mustCreate("/services", serviceBody(name));
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(s["load_balancing"], "round_robin");
  EXPECT_EQ(s["connect_timeout_ms"], 2000);
  EXPECT_EQ(s["read_timeout_ms"], 30000);
  EXPECT_EQ(s["retries"], 2);
  EXPECT_EQ(s["protocol"], "http1");
  EXPECT_EQ(s["idle_timeout_ms"], 60000);
  EXPECT_EQ(s["targets"], json::parse(R"([{"url": "http://127.0.0.1:9", "weight": 100}])"));
}

TEST_F(AdminCrudDetailsTest, FullServiceRoundTrips) {
  const std::string name = uniqueName("full");
  json body = {
      {"name", name},
      {"targets",
       {{{"url", "http://10.0.0.5:8080"}, {"weight", 100}},
        {{"url", "https://10.0.0.6:8443"}, {"weight", 0}}}},
      {"load_balancing", "consistent_hash"},
      {"hash_on", "header:x-user"},
      {"connect_timeout_ms", 1500},
      {"read_timeout_ms", 20000},
      {"retries", 1},
      {"protocol", "http1"},
      {"idle_timeout_ms", 300000},
      {"health_check",
       {{"path", "/healthz"}, {"interval_ms", 5000}, {"unhealthy_after", 3}, {"healthy_after", 2}}},
      {"tls",
       {{"verify", false},
        {"ca", nullptr},
        {"server_name", "orders.internal"},
        {"client_certificate", nullptr}}},
      {"tags", {"a", "b"}}};
  json s = mustCreate("/services", body);
  ASSERT_TRUE(s.is_object());
  EXPECT_EQ(without(s, {"id", "created_at", "updated_at"}), body);
}

TEST_F(AdminCrudDetailsTest, RouteReferencesServiceAndPoliciesByNameAndStoresIds) {
  json svc = mustCreate("/services", serviceBody(uniqueName("rt-svc")));
  json policy = mustCreate("/rate-limit-policies", policyBody(uniqueName("rt-pol")));
  ASSERT_TRUE(svc.is_object() && policy.is_object());
  const std::string name = uniqueName("rt");
  json body = {
      {"name", name},
      {"service", svc["name"]},
      {"hosts", {"api.example.com", "*.example.org"}},
      {"paths", {"/orders", "/users/{id}/orders", "~/v[0-9]+/items"}},
      {"methods", {"GET", "POST"}},
      {"headers", {{"x-version", {"2"}}}},
      {"strip_path", false},
      {"preserve_host", true},
      {"priority", 3},
      {"auth", {{"type", "api_key"}, {"key_names", {"apikey"}}, {"hide_credentials", true}}},
      {"allow_groups", {"partners"}},
      {"rate_limit_policies", {policy["name"]}},
      {"tags", {"t"}}};
  json r = mustCreate("/routes", body);
  ASSERT_TRUE(r.is_object());
  json expected = body;
  expected["service"] = svc["id"];
  expected["rate_limit_policies"] = {policy["id"]};
  expected["protocols"] = {"http", "https"};  // the default: both listeners
  EXPECT_EQ(without(r, {"id", "created_at", "updated_at"}), expected);
  EXPECT_EQ(mustGet("/routes/" + name), r);
}

TEST_F(AdminCrudDetailsTest, RouteWithoutNameIsAddressedById) {
  json svc = mustCreate("/services", serviceBody(uniqueName("anon-svc")));
  ASSERT_TRUE(svc.is_object());
  json r = mustCreate("/routes", {{"service", svc["id"]}, {"methods", {"GET"}}});
  ASSERT_TRUE(r.is_object());
  EXPECT_TRUE(r["name"].is_null()) << r;
  EXPECT_EQ(mustGet("/routes/" + r.value("id", "")), r);
}

TEST_F(AdminCrudDetailsTest, ConsumerRoundTrips) {
  json policy = mustCreate("/rate-limit-policies", policyBody(uniqueName("c-pol")));
  ASSERT_TRUE(policy.is_object());
  const std::string name = uniqueName("acme") + "@example.com";
  json body = {{"username", name},
               {"custom_id", "crm-4711"},
               {"groups", {"partners"}},
               {"rate_limit_policies", {policy["name"]}},
               {"tags", {"mobile"}}};
  json c = mustCreate("/consumers", body);
  ASSERT_TRUE(c.is_object());
  json expected = body;
  expected["rate_limit_policies"] = {policy["id"]};
  EXPECT_EQ(without(c, {"id", "created_at", "updated_at"}), expected);
  EXPECT_EQ(mustGet("/consumers/" + name), c);
}

TEST_F(AdminCrudDetailsTest, PolicyRoundTrips) {
  const std::string name = uniqueName("tier");
  json body = {{"name", name},   {"limit", 1000},
               {"window_s", 60}, {"algorithm", "token_bucket"},
               {"burst", 10},    {"key_by", "header:x-tenant"},
               {"tags", {"p"}}};
  json p = mustCreate("/rate-limit-policies", body);
  ASSERT_TRUE(p.is_object());
  EXPECT_EQ(without(p, {"id", "created_at", "updated_at"}), body);
}

TEST_F(AdminCrudDetailsTest, KeysCreateListGetRevoke) {
  const std::string username = uniqueName("key-owner");
  json consumer = mustCreate("/consumers", consumerBody(username));
  ASSERT_TRUE(consumer.is_object());
  const std::string consumer_id = consumer["id"];
  const int64_t v0 = storedVersion();

  Response created = admin().post("/consumers/" + username + "/keys", json::object());
  ASSERT_EQ(created.status, 201) << created;
  json key = created.json();
  EXPECT_TRUE(looksLikeUuid(key["id"])) << key;
  const std::string key_id = key.value("id", "");
  EXPECT_TRUE(hasConfigVersion(created, v0 + 1));
  EXPECT_FALSE(created.headerOr("Location").empty()) << created;
  EXPECT_TRUE(created.headerOr("Location").ends_with("/keys/" + key_id)) << created;
  EXPECT_TRUE(key["expires_at"].is_null()) << key;
  EXPECT_TRUE(key["created_at"].is_number_integer()) << key;

  // Listed and readable under the consumer's username and id.
  for (const std::string& c : {username, consumer_id}) {
    json list = mustGet("/consumers/" + c + "/keys");
    ASSERT_TRUE(list.is_object());
    ASSERT_EQ(list["data"].size(), 1u) << list;
    EXPECT_EQ(list["data"][0]["id"], key_id);
    EXPECT_TRUE(list["next"].is_null());
    Response one = admin().get("/consumers/" + c + "/keys/" + key_id);
    EXPECT_EQ(one.status, 200) << one;
    EXPECT_EQ(one.json()["prefix"], key["prefix"]);
    EXPECT_FALSE(one.headerOr("ETag").empty()) << one;
  }
  // Created by the created location too.
  EXPECT_EQ(admin().get(created.headerOr("Location")).status, 200);

  Response revoked = admin().del("/consumers/" + username + "/keys/" + key_id);
  ASSERT_EQ(revoked.status, 204) << revoked;
  EXPECT_TRUE(hasConfigVersion(revoked, v0 + 2));
  EXPECT_TRUE(isProblem(admin().get("/consumers/" + username + "/keys/" + key_id), 404));
  EXPECT_EQ(mustGet("/consumers/" + username + "/keys")["data"], json::array());
  EXPECT_EQ(storedVersion(), v0 + 2);
}

TEST_F(AdminCrudDetailsTest, StatusCountsEntities) {
  json before = mustGet("/status");
  ASSERT_TRUE(before.is_object());
  ASSERT_TRUE(before.contains("counts")) << before;
  mustCreate("/services", serviceBody(uniqueName("count")));
  json after = mustGet("/status");
  EXPECT_EQ(after["counts"]["services"].get<int64_t>(),
            before["counts"]["services"].get<int64_t>() + 1)
      << after;
  EXPECT_EQ(after["config_version"].get<int64_t>(), before["config_version"].get<int64_t>() + 1);
  EXPECT_TRUE(after["uptime_s"].is_number_integer()) << after;
}

TEST_F(AdminCrudDetailsTest, MetricsArePrometheusText) {
  Response r = admin().get("/metrics");
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_TRUE(r.headerOr("Content-Type").starts_with("text/plain")) << r;
  EXPECT_NE(r.body.find("# TYPE "), std::string::npos) << r;
}

}  // namespace
}  // namespace turnpike::test_support
