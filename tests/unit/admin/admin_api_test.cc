// AdminApi::handle against a real ConfigStore on a temporary file, without a socket.
#include "admin/admin_api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ctime>
#include <set>
#include <stdexcept>
#include <string>

#include "admin/openapi.h"
#include "admin_test_util.h"
#include "model/identity.h"

namespace turnpike::admin {
namespace {

using nlohmann::json;
using testing::ApiFixture;
using ::testing::HasSubstr;
using testing::headerOr;
using testing::jsonOf;
using testing::namesField;
using ::testing::StartsWith;

class AdminApiTest : public ApiFixture {};

// ---- routing, auth, problem format ----

TEST_F(AdminApiTest, HealthNeedsNoToken) {
  HttpResponse r = sendAnonymous("GET", "/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(headerOr(r, "content-type"), "application/json");
  EXPECT_EQ(jsonOf(r), json({{"status", "ok"}}));
}

TEST_F(AdminApiTest, EverythingElseNeedsTheToken) {
  for (const char* path : {"/services", "/status", "/config", "/metrics", "/no-such-thing"}) {
    HttpResponse r = sendAnonymous("GET", path);
    EXPECT_EQ(r.status, 401) << path;
    EXPECT_THAT(headerOr(r, "WWW-Authenticate"), StartsWith("Bearer")) << path;
    EXPECT_EQ(headerOr(r, "Content-Type"), "application/problem+json");
    EXPECT_EQ(jsonOf(r)["status"], 401);
  }
  HttpResponse wrong = api_->handle(
      testing::makeRequest("GET", "/services", "", {{"authorization", "Bearer not-the-token"}}));
  EXPECT_EQ(wrong.status, 401);
  HttpResponse basic = api_->handle(testing::makeRequest(
      "GET", "/services", "", {{"authorization", std::string("Basic ") + testing::kToken}}));
  EXPECT_EQ(basic.status, 401);
}

TEST_F(AdminApiTest, UnknownPathIs404Problem) {
  HttpResponse r = send("GET", "/nothing/here");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(headerOr(r, "Content-Type"), "application/problem+json");
  json body = jsonOf(r);
  EXPECT_EQ(body["status"], 404);
  EXPECT_EQ(body["title"], "Not Found");
  EXPECT_TRUE(body.contains("type"));
  EXPECT_THAT(body["detail"].get<std::string>(), HasSubstr("/nothing/here"));
}

TEST_F(AdminApiTest, WrongMethodIs405WithAllow) {
  HttpResponse r = send("DELETE", "/services");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(headerOr(r, "Allow"), "GET, POST");
  EXPECT_EQ(jsonOf(r)["status"], 405);

  HttpResponse config = send("PATCH", "/config");
  EXPECT_EQ(config.status, 405);
  EXPECT_EQ(headerOr(config, "Allow"), "GET, PUT");

  HttpResponse item = send("POST", "/services/orders");
  EXPECT_EQ(item.status, 405);
  EXPECT_EQ(headerOr(item, "Allow"), "GET, PUT, PATCH, DELETE");
}

TEST_F(AdminApiTest, RoutesListsTheWholeApiAndEachIsDispatched) {
  const auto& routes = AdminApi::routes();
  std::set<std::pair<std::string, std::string>> specs;
  for (const RouteSpec& r : routes) specs.emplace(r.method, r.path);
  EXPECT_EQ(specs.size(), routes.size()) << "duplicate route";
  for (const char* collection :
       {"/services", "/routes", "/consumers", "/rate-limit-policies", "/certificates"}) {
    std::string item = std::string(collection) + "/{id_or_name}";
    EXPECT_TRUE(specs.count({"GET", collection})) << collection;
    EXPECT_TRUE(specs.count({"POST", collection})) << collection;
    for (const char* m : {"GET", "PUT", "PATCH", "DELETE"}) {
      EXPECT_TRUE(specs.count({m, item})) << m << " " << item;
    }
  }
  for (const auto& spec : std::set<std::pair<std::string, std::string>>{
           {"GET", "/consumers/{consumer}/keys"},
           {"POST", "/consumers/{consumer}/keys"},
           {"GET", "/consumers/{consumer}/keys/{key_id}"},
           {"DELETE", "/consumers/{consumer}/keys/{key_id}"},
           {"GET", "/health"},
           {"GET", "/status"},
           {"GET", "/config"},
           {"PUT", "/config"},
           {"GET", "/config/history"},
           {"GET", "/config/history/{version}"},
           {"POST", "/config/history/{version}/restore"},
           {"GET", "/openapi.json"},
           {"GET", "/metrics"}}) {
    EXPECT_TRUE(specs.count(spec)) << spec.first << " " << spec.second;
  }
  EXPECT_TRUE(specs.count({"GET", "/routes/match"}));
  EXPECT_EQ(routes.size(), 44u);

  // Every template reaches a handler: never "no such resource", never 405.
  for (const RouteSpec& spec : routes) {
    std::string path = spec.path;
    for (size_t open; (open = path.find('{')) != std::string::npos;) {
      path.replace(open, path.find('}') - open + 1, "1");
    }
    HttpResponse r = send(spec.method, path);
    EXPECT_NE(r.status, 405) << spec.method << " " << path;
    if (r.status == 404) {
      EXPECT_THAT(jsonOf(r)["detail"].get<std::string>(), ::testing::Not(HasSubstr("no such")))
          << spec.method << " " << path;
    }
  }
}

TEST_F(AdminApiTest, EveryRouteHasAnOpenApiOperation) {
  const json& doc = openApiDocument();
  ASSERT_TRUE(doc.contains("paths"));
  for (const RouteSpec& spec : AdminApi::routes()) {
    std::string method = spec.method;
    for (char& c : method) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_TRUE(doc["paths"].contains(spec.path) && doc["paths"][spec.path].contains(method))
        << spec.method << " " << spec.path;
  }
}

TEST_F(AdminApiTest, OpenApiIsServed) {
  HttpResponse r = send("GET", "/openapi.json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(headerOr(r, "Content-Type"), "application/json");
  EXPECT_EQ(jsonOf(r), openApiDocument());
}

// ---- bodies ----

TEST_F(AdminApiTest, MalformedJsonIs400WithPosition) {
  HttpResponse r = send("POST", "/services", "{\"name\": \"orders\",");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(headerOr(r, "Content-Type"), "application/problem+json");
  std::string detail = jsonOf(r)["detail"];
  EXPECT_THAT(detail, HasSubstr("not valid JSON"));
  EXPECT_THAT(detail, HasSubstr("column"));
  EXPECT_THAT(detail, ::testing::Not(HasSubstr("[json.exception")));
}

TEST_F(AdminApiTest, NonObjectEmptyAndNonJsonBodiesAre400) {
  EXPECT_EQ(send("POST", "/services", "[1, 2]").status, 400);
  EXPECT_EQ(send("POST", "/services", "").status, 400);
  EXPECT_EQ(send("POST", "/services", "name=orders").status, 400);
  EXPECT_EQ(send("PUT", "/config", "\"text\"").status, 400);
}

TEST_F(AdminApiTest, DeeplyNestedBodyIsRefusedNotRecursedInto) {
  std::string deep(100000, '[');
  HttpResponse r = send("POST", "/services", deep);
  EXPECT_EQ(r.status, 400);
  std::string nested =
      "{\"name\":\"x\",\"tags\":" + std::string(70, '[') + std::string(70, ']') + "}";
  EXPECT_EQ(send("PATCH", "/services/x", nested).status, 400);
}

TEST_F(AdminApiTest, FieldErrorsNameTheField) {
  HttpResponse r = sendJson("POST", "/services", {{"name", "orders"}, {"targets", json::array()}});
  EXPECT_EQ(r.status, 400);
  json body = jsonOf(r);
  ASSERT_TRUE(body.contains("errors")) << r.body;
  ASSERT_FALSE(body["errors"].empty());
  EXPECT_EQ(body["errors"][0]["field"].get<std::string>().rfind("targets", 0), 0u) << r.body;
  EXPECT_TRUE(body["errors"][0].contains("message"));

  HttpResponse unknown =
      sendJson("POST", "/services",
               {{"name", "orders"}, {"targets", {{{"url", "http://a:1"}}}}, {"colour", "blue"}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_TRUE(namesField(unknown, "colour")) << unknown.body;
}

TEST_F(AdminApiTest, BodyOverOneMebibyteIs413) {
  std::string body = R"({"name":"big","targets":[{"url":"http://a:1"}]})";
  body.append(testing::kOneMiB + 1 - body.size(), ' ');
  HttpResponse r = send("POST", "/services", body);
  EXPECT_EQ(r.status, 413);
  EXPECT_EQ(jsonOf(r)["status"], 413);

  body.pop_back();  // exactly 1 MiB is allowed
  EXPECT_EQ(send("POST", "/services", body).status, 201);
}

// ---- entity CRUD, for each kind ----

struct KindCase {
  std::string collection;
  json body;   // valid create body, named "thing-1"
  json patch;  // a merge patch
  std::string patched_field;
  json patched_value;
};

void PrintTo(const KindCase& k, std::ostream* os) { *os << k.collection; }

class EntityCrudTest : public ApiFixture, public ::testing::WithParamInterface<KindCase> {
 protected:
  void SetUp() override {
    ApiFixture::SetUp();
    createService("backend");
  }
};

TEST_P(EntityCrudTest, CreateGetPutPatchDelete) {
  const KindCase& k = GetParam();
  const std::string name_field = k.collection == "/consumers" ? "username" : "name";

  // POST -> 201, Location, ETag, X-Config-Version
  HttpResponse created = sendJson("POST", k.collection, k.body);
  ASSERT_EQ(created.status, 201) << created.body;
  json entity = jsonOf(created);
  std::string id = entity["id"];
  EXPECT_TRUE(model::isUuid(id));
  EXPECT_EQ(headerOr(created, "Location"), k.collection + "/" + id);
  EXPECT_EQ(headerOr(created, "ETag"), model::etagOf(entity));
  EXPECT_EQ(headerOr(created, "Content-Type"), "application/json");
  int64_t v1 = std::stoll(headerOr(created, "X-Config-Version", "0"));
  EXPECT_GT(v1, 0);

  // GET by id and by name -> same entity, same tag
  HttpResponse by_id = send("GET", k.collection + "/" + id);
  HttpResponse by_name = send("GET", k.collection + "/thing-1");
  ASSERT_EQ(by_id.status, 200);
  ASSERT_EQ(by_name.status, 200);
  EXPECT_EQ(jsonOf(by_id), entity);
  EXPECT_EQ(headerOr(by_name, "ETag"), headerOr(created, "ETag"));

  // list
  HttpResponse list = send("GET", k.collection);
  ASSERT_EQ(list.status, 200);
  int listed = 0;
  json listed_body = jsonOf(list);
  for (const json& item : listed_body["data"]) listed += item["id"] == id ? 1 : 0;
  EXPECT_EQ(listed, 1);
  EXPECT_TRUE(jsonOf(list)["next"].is_null());

  // PATCH merges
  HttpResponse patched = sendJson("PATCH", k.collection + "/thing-1", k.patch);
  ASSERT_EQ(patched.status, 200) << patched.body;
  json after_patch = jsonOf(patched);
  EXPECT_EQ(after_patch[k.patched_field], k.patched_value);
  EXPECT_EQ(after_patch["id"], id);
  EXPECT_EQ(after_patch[name_field], "thing-1");
  EXPECT_GT(std::stoll(headerOr(patched, "X-Config-Version", "0")), v1);
  EXPECT_NE(headerOr(patched, "ETag"), headerOr(created, "ETag"));

  // PUT replaces (the original body again)
  HttpResponse put = sendJson("PUT", k.collection + "/" + id, k.body);
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(jsonOf(put)["id"], id);
  EXPECT_EQ(jsonOf(put)[k.patched_field], entity[k.patched_field]);
  EXPECT_TRUE(put.header("X-Config-Version"));

  // DELETE -> 204, then 404
  HttpResponse deleted = send("DELETE", k.collection + "/thing-1");
  EXPECT_EQ(deleted.status, 204);
  EXPECT_TRUE(deleted.body.empty());
  EXPECT_TRUE(deleted.header("X-Config-Version"));
  HttpResponse gone = send("GET", k.collection + "/" + id);
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(headerOr(gone, "Content-Type"), "application/problem+json");
}

TEST_P(EntityCrudTest, DuplicateNameIs409) {
  const KindCase& k = GetParam();
  ASSERT_EQ(sendJson("POST", k.collection, k.body).status, 201);
  HttpResponse again = sendJson("POST", k.collection, k.body);
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(jsonOf(again)["status"], 409);
}

TEST_P(EntityCrudTest, PutCreatesWhenAbsent) {
  const KindCase& k = GetParam();
  HttpResponse r = sendJson("PUT", k.collection + "/thing-1", k.body);
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = jsonOf(r)["id"];
  EXPECT_EQ(headerOr(r, "Location"), k.collection + "/" + id);
  EXPECT_EQ(send("GET", k.collection + "/thing-1").status, 200);
}

TEST_P(EntityCrudTest, StaleIfMatchIs412AndChangesNothing) {
  const KindCase& k = GetParam();
  HttpResponse created = sendJson("POST", k.collection, k.body);
  ASSERT_EQ(created.status, 201);
  std::string tag = headerOr(created, "ETag");
  ASSERT_EQ(sendJson("PATCH", k.collection + "/thing-1", k.patch).status, 200);

  // The tag from before the patch is stale now.
  EXPECT_EQ(sendJson("PUT", k.collection + "/thing-1", k.body, {{"if-match", tag}}).status, 412);
  EXPECT_EQ(
      sendJson("PATCH", k.collection + "/thing-1", json::object(), {{"if-match", tag}}).status,
      412);
  EXPECT_EQ(send("DELETE", k.collection + "/thing-1", "", {{"if-match", tag}}).status, 412);
  HttpResponse still = send("GET", k.collection + "/thing-1");
  ASSERT_EQ(still.status, 200);
  EXPECT_EQ(jsonOf(still)[k.patched_field], k.patched_value);

  // The current tag works.
  std::string current = headerOr(still, "ETag");
  EXPECT_EQ(send("DELETE", k.collection + "/thing-1", "", {{"if-match", current}}).status, 204);
}

TEST_P(EntityCrudTest, IfMatchStarRequiresExistence) {
  const KindCase& k = GetParam();
  EXPECT_EQ(sendJson("PUT", k.collection + "/thing-1", k.body, {{"if-match", "*"}}).status, 412);
  EXPECT_EQ(send("DELETE", k.collection + "/thing-1", "", {{"if-match", "*"}}).status, 412);
  ASSERT_EQ(sendJson("POST", k.collection, k.body).status, 201);
  EXPECT_EQ(sendJson("PUT", k.collection + "/thing-1", k.body, {{"if-match", "*"}}).status, 200);
  EXPECT_EQ(send("DELETE", k.collection + "/thing-1", "", {{"if-match", "*"}}).status, 204);
}

TEST_P(EntityCrudTest, MissingEntityIs404ForEveryVerb) {
  const KindCase& k = GetParam();
  EXPECT_EQ(send("GET", k.collection + "/missing").status, 404);
  EXPECT_EQ(sendJson("PATCH", k.collection + "/missing", k.patch).status, 404);
  EXPECT_EQ(send("DELETE", k.collection + "/missing").status, 404);
}

INSTANTIATE_TEST_SUITE_P(
    AllKinds, EntityCrudTest,
    ::testing::Values(
        KindCase{"/services",
                 {{"name", "thing-1"}, {"targets", {{{"url", "http://10.0.0.5:8080"}}}}},
                 {{"retries", 5}},
                 "retries",
                 5},
        KindCase{"/routes",
                 {{"name", "thing-1"}, {"service", "backend"}, {"paths", {"/orders"}}},
                 {{"paths", {"/orders", "/carts"}}},
                 "paths",
                 {"/orders", "/carts"}},
        KindCase{"/consumers",
                 {{"username", "thing-1"}, {"groups", {"partners"}}},
                 {{"custom_id", "crm-4711"}},
                 "custom_id",
                 "crm-4711"},
        KindCase{"/rate-limit-policies",
                 {{"name", "thing-1"}, {"limit", 10}, {"window_s", 60}},
                 {{"limit", 20}},
                 "limit",
                 20}),
    [](const ::testing::TestParamInfo<KindCase>& info) {
      std::string name;
      for (char c : info.param.collection) {
        if (std::isalnum(static_cast<unsigned char>(c))) name.push_back(c);
      }
      return name;
    });

// ---- entity specifics ----

TEST_F(AdminApiTest, MergePatchKeepsOtherFieldsAndNullRemoves) {
  create("/services", {{"name", "orders"},
                       {"targets", {{{"url", "http://10.0.0.5:8080"}, {"weight", 50}}}},
                       {"retries", 3},
                       {"health_check", {{"path", "/healthz"}}},
                       {"tags", {"a"}}});
  HttpResponse r =
      sendJson("PATCH", "/services/orders", {{"retries", 7}, {"health_check", nullptr}});
  ASSERT_EQ(r.status, 200) << r.body;
  json s = jsonOf(r);
  EXPECT_EQ(s["retries"], 7);
  EXPECT_TRUE(s["health_check"].is_null());
  EXPECT_EQ(s["targets"][0]["weight"], 50);
  EXPECT_EQ(s["tags"], json({"a"}));

  HttpResponse bad = sendJson("PATCH", "/services/orders", {{"retries", "many"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(namesField(bad, "retries")) << bad.body;
  EXPECT_EQ(jsonOf(send("GET", "/services/orders"))["retries"], 7);

  EXPECT_EQ(send("PATCH", "/services/orders", "[]").status, 400);
}

TEST_F(AdminApiTest, PutMayLeaveTheNameToTheUrl) {
  HttpResponse r = sendJson("PUT", "/services/orders", {{"targets", {{{"url", "http://a:1"}}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(jsonOf(r)["name"], "orders");
}

TEST_F(AdminApiTest, MissingReferenceIs400NamingTheField) {
  HttpResponse r = sendJson("POST", "/routes", {{"service", "nope"}, {"paths", {"/x"}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(namesField(r, "service")) << r.body;
}

TEST_F(AdminApiTest, DeletingAServiceInUseIs400AndKeepsIt) {
  createService("orders");
  create("/routes", {{"service", "orders"}, {"paths", {"/orders"}}});
  HttpResponse r = send("DELETE", "/services/orders");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(send("GET", "/services/orders").status, 200);
}

TEST_F(AdminApiTest, ListsPageWithCursor) {
  for (int i = 0; i < 5; ++i) create("/consumers", {{"username", "user-" + std::to_string(i)}});
  std::set<std::string> seen;
  std::string target = "/consumers?size=2";
  int pages = 0;
  while (true) {
    HttpResponse r = send("GET", target);
    ASSERT_EQ(r.status, 200) << r.body;
    json body = jsonOf(r);
    EXPECT_LE(body["data"].size(), 2u);
    for (const json& c : body["data"]) seen.insert(c["username"].get<std::string>());
    ++pages;
    if (body["next"].is_null()) break;
    ASSERT_TRUE(body["next"].is_string());
    target = "/consumers?size=2&after=" + body["next"].get<std::string>();
    ASSERT_LT(pages, 10);
  }
  EXPECT_EQ(seen.size(), 5u);
  EXPECT_EQ(pages, 3);
}

TEST_F(AdminApiTest, BadPageSizeIs400NamingSize) {
  for (const char* size : {"0", "1001", "abc", "-1", "1.5", ""}) {
    HttpResponse r = send("GET", std::string("/services?size=") + size);
    EXPECT_EQ(r.status, 400) << size;
    EXPECT_TRUE(namesField(r, "size")) << size << " " << r.body;
  }
  EXPECT_EQ(send("GET", "/services?size=1000").status, 200);
  EXPECT_EQ(send("GET", "/config/history?size=x").status, 400);
}

TEST_F(AdminApiTest, TagsFilterRequiresAllTags) {
  createService("ab", {"a", "b"});
  createService("a-only", {"a"});
  createService("none");
  json a = jsonOf(send("GET", "/services?tags=a"));
  EXPECT_EQ(a["data"].size(), 2u);
  json ab = jsonOf(send("GET", "/services?tags=a,b"));
  ASSERT_EQ(ab["data"].size(), 1u);
  EXPECT_EQ(ab["data"][0]["name"], "ab");
  EXPECT_EQ(jsonOf(send("GET", "/services?tags=zzz"))["data"].size(), 0u);
}

TEST_F(AdminApiTest, HostileNamesAnswerCleanly) {
  HttpResponse r = send("GET", "/services/\xff\xfe");
  EXPECT_TRUE(r.status == 404 || r.status == 400) << r.status;
  EXPECT_TRUE(jsonOf(r).is_object());
}

// ---- API keys ----

TEST_F(AdminApiTest, KeyIsShownOnceAndNeverListed) {
  json consumer = create("/consumers", {{"username", "acme"}});
  HttpResponse r = send("POST", "/consumers/acme/keys");
  ASSERT_EQ(r.status, 201) << r.body;
  json key = jsonOf(r);
  std::string plaintext = key["key"];
  EXPECT_THAT(plaintext, StartsWith("tpk_"));
  EXPECT_GE(plaintext.size(), 40u);
  EXPECT_EQ(key["prefix"], plaintext.substr(0, 8));
  EXPECT_TRUE(key["expires_at"].is_null());
  EXPECT_GT(key["created_at"].get<int64_t>(), 0);
  EXPECT_EQ(key["consumer"], consumer["id"]);
  EXPECT_EQ(headerOr(r, "Cache-Control"), "no-store");
  std::string id = key["id"];
  EXPECT_EQ(headerOr(r, "Location"),
            "/consumers/" + consumer["id"].get<std::string>() + "/keys/" + id);
  EXPECT_TRUE(r.header("X-Config-Version"));

  HttpResponse list = send("GET", "/consumers/acme/keys");
  ASSERT_EQ(list.status, 200);
  json data = jsonOf(list)["data"];
  ASSERT_EQ(data.size(), 1u);
  EXPECT_FALSE(data[0].contains("key"));
  EXPECT_FALSE(data[0].contains("key_hash"));
  EXPECT_EQ(list.body.find(plaintext), std::string::npos);

  HttpResponse one = send("GET", "/consumers/" + consumer["id"].get<std::string>() + "/keys/" + id);
  ASSERT_EQ(one.status, 200);
  EXPECT_FALSE(jsonOf(one).contains("key"));
  EXPECT_TRUE(one.header("ETag"));
  EXPECT_EQ(one.body.find(plaintext), std::string::npos);

  // The export holds the hash, never the key.
  HttpResponse config = send("GET", "/config");
  EXPECT_EQ(config.body.find(plaintext), std::string::npos);
  EXPECT_NE(config.body.find(model::sha256Hex(plaintext)), std::string::npos);

  EXPECT_EQ(send("DELETE", "/consumers/acme/keys/" + id).status, 204);
  EXPECT_EQ(send("GET", "/consumers/acme/keys/" + id).status, 404);
  EXPECT_TRUE(jsonOf(send("GET", "/consumers/acme/keys"))["data"].empty());
}

TEST_F(AdminApiTest, KeyMayBeSuppliedWithExpiryAndTags) {
  create("/consumers", {{"username", "acme"}});
  int64_t later = static_cast<int64_t>(std::time(nullptr)) + 3600;
  std::string mine = "migrated-key-from-kong-0001";
  HttpResponse r = sendJson("POST", "/consumers/acme/keys",
                            {{"key", mine}, {"expires_at", later}, {"tags", {"kong"}}});
  ASSERT_EQ(r.status, 201) << r.body;
  json key = jsonOf(r);
  EXPECT_EQ(key["key"], mine);
  EXPECT_EQ(key["prefix"], "migrated");
  EXPECT_EQ(key["expires_at"], later);
  EXPECT_EQ(key["tags"], json({"kong"}));

  HttpResponse dup = sendJson("POST", "/consumers/acme/keys", {{"key", mine}});
  EXPECT_EQ(dup.status, 409) << dup.body;
}

TEST_F(AdminApiTest, KeyErrors) {
  create("/consumers", {{"username", "acme"}});
  HttpResponse past = sendJson("POST", "/consumers/acme/keys", {{"expires_at", 1000}});
  EXPECT_EQ(past.status, 400);
  EXPECT_TRUE(namesField(past, "expires_at")) << past.body;

  HttpResponse short_key = sendJson("POST", "/consumers/acme/keys", {{"key", "short"}});
  EXPECT_EQ(short_key.status, 400);
  EXPECT_TRUE(namesField(short_key, "key")) << short_key.body;

  EXPECT_EQ(send("POST", "/consumers/nobody/keys").status, 404);
  EXPECT_EQ(send("GET", "/consumers/nobody/keys").status, 404);
  EXPECT_EQ(send("POST", "/consumers/acme/keys", "{oops").status, 400);
}

// ---- whole configuration ----

TEST_F(AdminApiTest, PutConfigDryRunChangesNothing) {
  createService("orders");
  HttpResponse exported = send("GET", "/config");
  ASSERT_EQ(exported.status, 200);
  json config = jsonOf(exported);
  int64_t version = config["version"];
  EXPECT_EQ(headerOr(exported, "X-Config-Version"), std::to_string(version));

  config["services"].push_back({{"name", "billing"}, {"targets", {{{"url", "http://b:1"}}}}});
  HttpResponse dry = sendJson("PUT", "/config?dry_run=true", config);
  ASSERT_EQ(dry.status, 200) << dry.body;
  json answer = jsonOf(dry);
  EXPECT_EQ(answer["dry_run"], true);
  EXPECT_EQ(answer["version"], version);
  ASSERT_EQ(answer["changes"].size(), 1u);
  EXPECT_EQ(answer["changes"][0]["entity_type"], "service");
  EXPECT_EQ(answer["changes"][0]["action"], "create");
  EXPECT_TRUE(answer["changes"][0]["before"].is_null());
  EXPECT_EQ(answer["changes"][0]["after"]["name"], "billing");
  EXPECT_EQ(send("GET", "/services/billing").status, 404);
  EXPECT_EQ(jsonOf(send("GET", "/status"))["config_version"], version);

  HttpResponse real = sendJson("PUT", "/config", config);
  ASSERT_EQ(real.status, 200) << real.body;
  EXPECT_EQ(jsonOf(real)["dry_run"], false);
  EXPECT_EQ(jsonOf(real)["version"], version + 1);
  EXPECT_EQ(headerOr(real, "X-Config-Version"), std::to_string(version + 1));
  EXPECT_EQ(send("GET", "/services/billing").status, 200);
}

TEST_F(AdminApiTest, PutConfigRejectsInvalidDocumentsWithFieldPaths) {
  json config = {{"services", {{{"name", "ok"}, {"targets", json::array()}}}}};
  HttpResponse r = sendJson("PUT", "/config", config);
  EXPECT_EQ(r.status, 400);
  json body = jsonOf(r);
  ASSERT_TRUE(body.contains("errors")) << r.body;
  EXPECT_THAT(body["errors"][0]["field"].get<std::string>(), StartsWith("services[0]"));
  EXPECT_EQ(send("PUT", "/config?dry_run=maybe", "{}").status, 400);
}

TEST_F(AdminApiTest, HistoryListsAndShowsChangesAndRestores) {
  createService("orders");                                    // v1
  createService("billing");                                   // v2
  ASSERT_EQ(send("DELETE", "/services/orders").status, 204);  // v3

  HttpResponse list = send("GET", "/config/history");
  ASSERT_EQ(list.status, 200);
  json data = jsonOf(list)["data"];
  ASSERT_EQ(data.size(), 3u);
  EXPECT_EQ(data[0]["version"], 3);  // newest first
  EXPECT_EQ(data[0]["action"], "delete");
  EXPECT_EQ(data[0]["actor"], "admin");
  for (const char* field : {"version", "at", "actor", "action", "summary"}) {
    EXPECT_TRUE(data[0].contains(field)) << field;
  }
  EXPECT_FALSE(data[0].contains("changes"));

  HttpResponse page = send("GET", "/config/history?size=2");
  EXPECT_EQ(jsonOf(page)["data"].size(), 2u);
  EXPECT_TRUE(jsonOf(page)["next"].is_string());

  HttpResponse one = send("GET", "/config/history/1");
  ASSERT_EQ(one.status, 200);
  json entry = jsonOf(one);
  EXPECT_EQ(entry["version"], 1);
  ASSERT_EQ(entry["changes"].size(), 1u);
  EXPECT_EQ(entry["changes"][0]["action"], "create");
  EXPECT_EQ(entry["changes"][0]["after"]["name"], "orders");

  HttpResponse bad = send("GET", "/config/history/abc");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(namesField(bad, "version"));
  EXPECT_EQ(send("GET", "/config/history/999").status, 404);
  EXPECT_EQ(send("POST", "/config/history/999/restore").status, 404);
  EXPECT_EQ(send("POST", "/config/history/x/restore").status, 400);

  // Dry-run restore tells what would change and changes nothing.
  HttpResponse preview = send("POST", "/config/history/1/restore?dry_run=true");
  ASSERT_EQ(preview.status, 200) << preview.body;
  EXPECT_EQ(jsonOf(preview)["dry_run"], true);
  EXPECT_EQ(jsonOf(preview)["changes"].size(), 2u);
  EXPECT_EQ(send("GET", "/services/orders").status, 404);

  // Back to v1: orders exists, billing does not; as a new version 4.
  HttpResponse restored = send("POST", "/config/history/1/restore");
  ASSERT_EQ(restored.status, 200) << restored.body;
  EXPECT_EQ(headerOr(restored, "X-Config-Version"), "4");
  EXPECT_EQ(jsonOf(restored)["version"], 4);
  EXPECT_EQ(jsonOf(restored)["dry_run"], false);
  EXPECT_EQ(send("GET", "/services/orders").status, 200);
  EXPECT_EQ(send("GET", "/services/billing").status, 404);
  EXPECT_EQ(jsonOf(send("GET", "/config/history"))["data"][0]["action"], "restore");
}

TEST_F(AdminApiTest, ActorHeaderIsRecordedSanitized) {
  ASSERT_EQ(
      sendJson("POST", "/services", {{"name", "orders"}, {"targets", {{{"url", "http://a:1"}}}}},
               {{"x-turnpike-actor", " alice\r\n" + std::string(100, 'x')}})
          .status,
      201);
  json entry = jsonOf(send("GET", "/config/history"))["data"][0];
  std::string actor = entry["actor"];
  EXPECT_THAT(actor, StartsWith("alice"));
  EXPECT_LE(actor.size(), 64u);
  EXPECT_EQ(actor.find('\r'), std::string::npos);
}

// ---- status and metrics ----

TEST_F(AdminApiTest, StatusWithoutProxy) {
  createService("orders");
  HttpResponse r = send("GET", "/status");
  ASSERT_EQ(r.status, 200);
  json s = jsonOf(r);
  EXPECT_EQ(s["config_version"], 1);
  EXPECT_EQ(s["counts"]["services"], 1);
  EXPECT_EQ(s["counts"]["routes"], 0);
  EXPECT_EQ(s["counts"]["api_keys"], 0);
  EXPECT_EQ(s["proxy"]["workers"], json::array());
  EXPECT_TRUE(s["proxy"]["last_build"].is_null());
  EXPECT_GE(s["uptime_s"].get<int64_t>(), 0);
  EXPECT_TRUE(s["version"].is_string());
}

TEST_F(AdminApiTest, StatusAsksTheProxyHooks) {
  hooks_.served_versions = [] {
    return std::vector<proxy::WorkerVersion>{{"worker-0", 3}, {"worker-1", 4}};
  };
  hooks_.last_build = [] {
    return json{{"duration_ms", 2}, {"at", 1700000000}, {"error", nullptr}};
  };
  api_ = std::make_unique<AdminApi>(*store_, AdminAuth(model::sha256Hex(testing::kToken)), hooks_);
  json s = jsonOf(send("GET", "/status"));
  EXPECT_EQ(s["proxy"]["workers"], json::parse(R"([{"worker": "worker-0", "version": 3},
                                                  {"worker": "worker-1", "version": 4}])"));
  EXPECT_EQ(s["proxy"]["last_build"]["duration_ms"], 2);
  EXPECT_THAT(send("GET", "/metrics").body,
              HasSubstr("turnpike_proxy_worker_config_version{worker=\"worker-1\"} 4"));
}

TEST_F(AdminApiTest, ExceptionsBecome500Problems) {
  hooks_.last_build = []() -> json { throw std::runtime_error("boom"); };
  api_ = std::make_unique<AdminApi>(*store_, AdminAuth(model::sha256Hex(testing::kToken)), hooks_);
  HttpResponse r = send("GET", "/status");
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(headerOr(r, "Content-Type"), "application/problem+json");
  EXPECT_EQ(r.body.find("boom"), std::string::npos);  // internals stay in the log
}

TEST_F(AdminApiTest, MetricsArePrometheusText) {
  createService("orders");
  send("GET", "/nope");
  HttpResponse r = send("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_THAT(headerOr(r, "Content-Type"), StartsWith("text/plain; version=0.0.4"));
  EXPECT_THAT(r.body,
              HasSubstr("# TYPE turnpike_config_version gauge\nturnpike_config_version 1\n"));
  EXPECT_THAT(r.body, HasSubstr("turnpike_entities{kind=\"service\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("turnpike_entities{kind=\"route\"} 0\n"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE turnpike_admin_requests_total counter"));
  EXPECT_THAT(r.body,
              HasSubstr("turnpike_admin_requests_total{method=\"POST\",status=\"201\"} 1\n"));
  EXPECT_THAT(r.body,
              HasSubstr("turnpike_admin_requests_total{method=\"GET\",status=\"404\"} 1\n"));
}

}  // namespace
}  // namespace turnpike::admin
