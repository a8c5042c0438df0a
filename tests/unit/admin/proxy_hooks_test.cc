// The admin API's read-only face of the proxy: GET /status's proxy section, ?wait_for_proxy=true
// on every write, and GET /routes/match explained on a real snapshot of a real store.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "admin/admin_api.h"
#include "admin_test_util.h"
#include "model/api_key.h"
#include "proxy/snapshot_builder.h"

namespace turnpike::admin {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ApiFixture;
using ::testing::HasSubstr;
using testing::headerOr;
using testing::jsonOf;
using testing::namesField;

class ProxyHooksTest : public ApiFixture {
 protected:
  // AdminApi copies its hooks: rebuild it after changing hooks_.
  void useHooks() {
    api_ =
        std::make_unique<AdminApi>(*store_, AdminAuth(model::sha256Hex(testing::kToken)), hooks_);
  }

  // A wait hook that records its calls and answers `reached`.
  void recordWaits(bool reached) {
    hooks_.wait_for_version = [this, reached](int64_t version, std::chrono::milliseconds timeout) {
      waits_.emplace_back(version, timeout);
      return reached;
    };
    useHooks();
  }

  int64_t storedVersion() { return jsonOf(send("GET", "/status"))["config_version"]; }

  std::vector<std::pair<int64_t, std::chrono::milliseconds>> waits_;
};

// ---- GET /status ----

TEST_F(ProxyHooksTest, StatusShowsEachWorkerTheLowestVersionAndWhetherInSync) {
  createService("orders");
  createService("users");  // stored version 2
  std::vector<proxy::WorkerVersion> served = {{"worker-0", 2}, {"worker-1", 1}};
  hooks_.served_versions = [&served] { return served; };
  hooks_.last_build = [] {
    return json{{"version", 2},     {"duration_ms", 0.4},       {"at", 1.7e9},
                {"error", nullptr}, {"error_version", nullptr}, {"builds", 3}};
  };
  useHooks();

  json proxy = jsonOf(send("GET", "/status"))["proxy"];
  EXPECT_EQ(proxy["workers"], json::parse(R"([{"worker": "worker-0", "version": 2},
                                               {"worker": "worker-1", "version": 1}])"));
  EXPECT_EQ(proxy["served_version"], 1);
  EXPECT_EQ(proxy["in_sync"], false);
  EXPECT_EQ(proxy["last_build"]["builds"], 3);

  served[1].version = 2;
  proxy = jsonOf(send("GET", "/status"))["proxy"];
  EXPECT_EQ(proxy["served_version"], 2);
  EXPECT_EQ(proxy["in_sync"], true);
  EXPECT_THAT(send("GET", "/metrics").body,
              HasSubstr("turnpike_proxy_worker_config_version{worker=\"worker-1\"} 2\n"));
}

TEST_F(ProxyHooksTest, MetricsCarryTheProxyCountersAndTheBuildTime) {
  hooks_.last_build = [] {
    return json{{"version", 1},     {"duration_ms", 250.0},     {"at", 1.7e9},
                {"error", nullptr}, {"error_version", nullptr}, {"builds", 1}};
  };
  hooks_.proxy_metrics = [] {
    return std::string("turnpike_http_requests_total{route=\"api\",status=\"200\"} 7\n");
  };
  useHooks();
  const std::string text = send("GET", "/metrics").body;
  EXPECT_THAT(text, HasSubstr("turnpike_snapshot_build_seconds 0.250000\n"));
  EXPECT_THAT(text, HasSubstr("turnpike_http_requests_total{route=\"api\",status=\"200\"} 7\n"));
}

TEST_F(ProxyHooksTest, StatusWithoutWorkers) {
  createService("orders");
  json proxy = jsonOf(send("GET", "/status"))["proxy"];
  EXPECT_EQ(proxy["workers"], json::array());
  EXPECT_TRUE(proxy["served_version"].is_null());
  EXPECT_EQ(proxy["in_sync"], true);
  EXPECT_TRUE(proxy["last_build"].is_null());
}

// ---- ?wait_for_proxy=true ----

TEST_F(ProxyHooksTest, WaitForProxyWaitsForTheWrittenVersion) {
  recordWaits(true);
  HttpResponse r = sendJson("POST", "/services?wait_for_proxy=true",
                            {{"name", "orders"}, {"targets", {{{"url", "http://10.0.0.5:8080"}}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(waits_.size(), 1u);
  EXPECT_EQ(waits_[0].first, 1);
  EXPECT_EQ(waits_[0].second, 5000ms) << "the default bound";

  r = sendJson("PATCH", "/services/orders?wait_for_proxy=true&wait_timeout_ms=250",
               {{"retries", 1}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(waits_.size(), 2u);
  EXPECT_EQ(waits_[1].first, 2);
  EXPECT_EQ(waits_[1].second, 250ms);
}

TEST_F(ProxyHooksTest, WaitForProxyTimeoutIs504AndTheChangeStaysStored) {
  hooks_.last_build = [] {
    return json{{"version", 0}, {"error", "route 'x': invalid regex"}, {"error_version", 1}};
  };
  recordWaits(false);
  HttpResponse r = sendJson("POST", "/services?wait_for_proxy=true&wait_timeout_ms=250",
                            {{"name", "orders"}, {"targets", {{{"url", "http://10.0.0.5:8080"}}}}});
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(headerOr(r, "Content-Type"), "application/problem+json");
  EXPECT_EQ(headerOr(r, "X-Config-Version"), "1");
  json body = jsonOf(r);
  EXPECT_EQ(body["status"], 504);
  EXPECT_EQ(body["title"], "Gateway Timeout");
  const std::string detail = body["detail"];
  EXPECT_THAT(detail, HasSubstr("the change is stored (version 1)"));
  EXPECT_THAT(detail, HasSubstr("within 250 ms"));
  EXPECT_THAT(detail, HasSubstr("invalid regex")) << "the failed build says why";
  EXPECT_EQ(send("GET", "/services/orders").status, 200);
}

TEST_F(ProxyHooksTest, BadWaitParametersAre400NamingThemAndWriteNothing) {
  recordWaits(true);
  const json service = {{"name", "orders"}, {"targets", {{{"url", "http://10.0.0.5:8080"}}}}};
  HttpResponse r = sendJson("POST", "/services?wait_for_proxy=maybe", service);
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(namesField(r, "wait_for_proxy")) << r.body;
  for (const char* bad : {"0", "60001", "abc", "-5", ""}) {
    r = sendJson("POST", std::string("/services?wait_for_proxy=true&wait_timeout_ms=") + bad,
                 service);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_TRUE(namesField(r, "wait_timeout_ms")) << bad << ": " << r.body;
  }
  EXPECT_EQ(send("DELETE", "/services/orders?wait_for_proxy=yes").status, 400);
  EXPECT_EQ(storedVersion(), 0);
  EXPECT_TRUE(waits_.empty());
}

TEST_F(ProxyHooksTest, NoWaitUnlessAskedForNorOnFailedOrDryRunWrites) {
  recordWaits(true);
  createService("orders");
  EXPECT_EQ(sendJson("POST", "/services?wait_for_proxy=false",
                     {{"name", "users"}, {"targets", {{{"url", "http://10.0.0.6:8080"}}}}})
                .status,
            201);
  EXPECT_EQ(sendJson("POST", "/services?wait_for_proxy=true", {{"name", "bad name"}}).status, 400);
  json config = jsonOf(send("GET", "/config"));
  EXPECT_EQ(send("PUT", "/config?dry_run=true&wait_for_proxy=true", config.dump()).status, 200);
  EXPECT_EQ(send("POST", "/config/history/1/restore?dry_run=true&wait_for_proxy=true").status, 200);
  EXPECT_TRUE(waits_.empty());
}

TEST_F(ProxyHooksTest, EveryKindOfWriteWaits) {
  recordWaits(true);
  auto waitsFor = [&](const HttpResponse& r) {
    EXPECT_GE(r.status, 200);
    EXPECT_LT(r.status, 300) << r.body;
    const std::string version = headerOr(r, "X-Config-Version");
    return !waits_.empty() && std::to_string(waits_.back().first) == version;
  };
  const std::string w = "?wait_for_proxy=true";
  const json service = {{"targets", {{{"url", "http://10.0.0.5:8080"}}}}};
  EXPECT_TRUE(waitsFor(sendJson("PUT", "/services/orders" + w, service)));
  EXPECT_TRUE(waitsFor(sendJson("POST", "/consumers" + w, {{"username", "acme"}})));
  HttpResponse key = send("POST", "/consumers/acme/keys" + w, "");
  EXPECT_TRUE(waitsFor(key));
  const std::string key_id = jsonOf(key)["id"];
  EXPECT_TRUE(waitsFor(send("DELETE", "/consumers/acme/keys/" + key_id + w)));
  EXPECT_TRUE(waitsFor(send("DELETE", "/consumers/acme" + w)));
  json config = jsonOf(send("GET", "/config"));
  config["services"] = json::array();
  EXPECT_TRUE(waitsFor(send("PUT", "/config" + w, config.dump())));
  EXPECT_TRUE(waitsFor(send("POST", "/config/history/1/restore" + w)));
  EXPECT_EQ(waits_.size(), 7u);
}

TEST_F(ProxyHooksTest, WithoutAWaitHookWaitingSucceedsAtOnce) {
  HttpResponse r = sendJson("POST", "/services?wait_for_proxy=true&wait_timeout_ms=1",
                            {{"name", "orders"}, {"targets", {{{"url", "http://10.0.0.5:8080"}}}}});
  EXPECT_EQ(r.status, 201) << r.body;
}

// ---- GET /routes/match ----

class RouteMatchTest : public ProxyHooksTest {
 protected:
  void SetUp() override {
    ProxyHooksTest::SetUp();
    createService("orders");
    createService("users");
    create("/rate-limit-policies", {{"name", "gold"}, {"limit", 10}, {"window_s", 60}});
    orders_api_ = create("/routes", {{"name", "orders-api"},
                                     {"service", "orders"},
                                     {"paths", {"/orders"}},
                                     {"methods", {"GET", "POST"}},
                                     {"auth", {{"type", "api_key"}}},
                                     {"allow_groups", {"partners"}},
                                     {"rate_limit_policies", {"gold"}}})["id"]
                      .get<std::string>();
    create("/routes", {{"name", "orders-legacy"},
                       {"service", "orders"},
                       {"paths", {"/orders"}},
                       {"priority", -1}});
    beta_ = create("/routes", {{"name", "orders-beta"},
                               {"service", "orders"},
                               {"paths", {"/orders"}},
                               {"headers", {{"x-version", {"2"}}}},
                               {"priority", 10}})["id"]
                .get<std::string>();
    create("/routes", {{"name", "user"},
                       {"service", "users"},
                       {"hosts", {"api.example.com"}},
                       {"paths", {"/users/{id}"}},
                       {"strip_path", false}});
  }

  // The explanation's entry for the route named `name`.
  static json verdictOf(const json& explanation, const std::string& name) {
    for (const json& route : explanation["routes"]) {
      if (route["name"] == name) return route;
    }
    ADD_FAILURE() << "no route " << name << " in " << explanation.dump(2);
    return nullptr;
  }

  std::string orders_api_;
  std::string beta_;
};

TEST_F(RouteMatchTest, ExplainsTheSelectedRouteItsPoliciesAndTheOthers) {
  HttpResponse r = send("GET", "/routes/match?path=/orders/7?a=1");
  ASSERT_EQ(r.status, 200) << r.body;
  json e = jsonOf(r);
  EXPECT_EQ(e["version"], storedVersion());
  EXPECT_EQ(e["request"]["method"], "GET");
  EXPECT_EQ(e["request"]["path"], "/orders/7");
  EXPECT_EQ(e["request"]["query"], "a=1");
  EXPECT_TRUE(e["request"]["host"].is_null());

  const json& m = e["matched"];
  ASSERT_TRUE(m.is_object()) << e.dump(2);
  EXPECT_EQ(m["route"], json({{"id", orders_api_}, {"name", "orders-api"}}));
  EXPECT_EQ(m["service"]["name"], "orders");
  EXPECT_EQ(m["path"], "/orders");
  EXPECT_EQ(m["host_match"], "any");
  EXPECT_EQ(m["path_match"], "prefix");
  EXPECT_EQ(m["params"], json::object());
  EXPECT_EQ(m["upstream_target"], "/7?a=1") << "strip_path removes /orders";
  EXPECT_EQ(m["policies"]["auth"], "api_key");
  EXPECT_EQ(m["policies"]["allow_groups"], json({"partners"}));
  ASSERT_EQ(m["policies"]["rate_limit_policies"].size(), 1u);
  EXPECT_EQ(m["policies"]["rate_limit_policies"][0]["name"], "gold");

  ASSERT_EQ(e["routes"].size(), 4u);
  EXPECT_EQ(verdictOf(e, "orders-api")["verdict"], "selected");
  json legacy = verdictOf(e, "orders-legacy");
  EXPECT_EQ(legacy["verdict"], "lost_on_precedence");
  EXPECT_EQ(legacy["lost_to"], orders_api_);
  json beta = verdictOf(e, "orders-beta");
  EXPECT_EQ(beta["verdict"], "header_mismatch");
  EXPECT_THAT(beta["detail"].get<std::string>(), HasSubstr("x-version"));
  EXPECT_TRUE(beta["lost_to"].is_null());
  EXPECT_EQ(verdictOf(e, "user")["verdict"], "host_mismatch");
}

TEST_F(RouteMatchTest, HeadersMethodAndHostTakePart) {
  json e = jsonOf(send("GET", "/routes/match?path=/orders&header.X-Version=2"));
  EXPECT_EQ(e["matched"]["route"]["id"], beta_);
  EXPECT_EQ(e["request"]["headers"], json({{"x-version", "2"}}));
  EXPECT_EQ(verdictOf(e, "orders-api")["lost_to"], beta_);

  e = jsonOf(send("GET", "/routes/match?method=DELETE&path=/orders"));
  EXPECT_EQ(verdictOf(e, "orders-api")["verdict"], "method_mismatch");
  EXPECT_EQ(e["matched"]["route"]["name"], "orders-legacy");

  e = jsonOf(send("GET", "/routes/match?host=API.example.com:8443&path=/users/42"));
  EXPECT_EQ(e["matched"]["route"]["name"], "user");
  EXPECT_EQ(e["matched"]["host_match"], "exact");
  EXPECT_EQ(e["matched"]["path_match"], "template");
  EXPECT_EQ(e["matched"]["params"], json({{"id", "42"}}));
  EXPECT_EQ(e["matched"]["upstream_target"], "/users/42");
  EXPECT_EQ(e["matched"]["policies"]["auth"], "none");
  EXPECT_EQ(verdictOf(e, "orders-api")["verdict"], "path_mismatch");

  e = jsonOf(send("GET", "/routes/match?path=/nothing"));
  EXPECT_TRUE(e["matched"].is_null()) << "no route: the proxy answers 404";
}

TEST_F(RouteMatchTest, BadQueriesAre400NamingTheParameter) {
  for (const char* target : {"/routes/match", "/routes/match?path=", "/routes/match?path=orders",
                             "/routes/match?method=GET"}) {
    HttpResponse r = send("GET", target);
    EXPECT_EQ(r.status, 400) << target;
    EXPECT_TRUE(namesField(r, "path")) << target << ": " << r.body;
  }
  HttpResponse r = send("GET", "/routes/match?method=G{T&path=/orders");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(namesField(r, "method")) << r.body;
  r = send("GET", "/routes/match?path=/orders&header.=1");
  EXPECT_EQ(r.status, 400);
  EXPECT_TRUE(namesField(r, "header.")) << r.body;
}

// With a proxy in the process, the explanation is about the snapshot it serves, not the store.
TEST_F(RouteMatchTest, ExplainsTheSnapshotTheProxyServes) {
  auto config = store_->loadConfig();
  ASSERT_TRUE(config);
  auto built = proxy::SnapshotBuilder::build(std::move(*config));
  ASSERT_TRUE(built);
  proxy::SnapshotConstSharedPtr served = *built;
  hooks_.snapshot = [served] { return served; };
  useHooks();
  const int64_t served_version = served->version();
  ASSERT_EQ(send("DELETE", "/routes/orders-beta").status, 204);

  json e = jsonOf(send("GET", "/routes/match?path=/orders&header.x-version=2"));
  EXPECT_EQ(e["version"], served_version);
  EXPECT_EQ(e["matched"]["route"]["name"], "orders-beta") << "the proxy still serves it";
}

// A route may be named "match": GET /routes/match is the explanation, so that route is read by
// id; its other operations still address it by name.
TEST_F(RouteMatchTest, ARouteNamedMatchIsReadByIdAndWrittenByName) {
  const json route = {{"service", "orders"}, {"paths", {"/m"}}};
  json created = create("/routes", {{"name", "match"}, {"service", "orders"}, {"paths", {"/m"}}});
  HttpResponse r = send("GET", "/routes/match?path=/m");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(jsonOf(r)["matched"]["route"]["name"], "match");
  EXPECT_EQ(send("GET", "/routes/" + created["id"].get<std::string>()).status, 200);
  EXPECT_EQ(sendJson("PATCH", "/routes/match", {{"priority", 3}}).status, 200);
  EXPECT_EQ(sendJson("PUT", "/routes/match", route).status, 200);
  HttpResponse post = send("POST", "/routes/match");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(headerOr(post, "Allow"), "GET, PUT, PATCH, DELETE");
  EXPECT_EQ(send("DELETE", "/routes/match").status, 204);
  EXPECT_EQ(send("GET", "/routes/" + created["id"].get<std::string>()).status, 404);
}

}  // namespace
}  // namespace turnpike::admin
