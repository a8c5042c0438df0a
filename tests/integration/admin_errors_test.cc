// Every error class of the admin API (API.md "Conventions"), as a client sees it: the status,
// an RFC 9457 problem+json body naming the offending field, and nothing written.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "tests/support/admin_fixture.h"
#include "tests/support/process_stats.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

class AdminErrorsTest : public AdminSuiteTest {};

TEST_F(AdminErrorsTest, BadJsonIs400) {
  for (const char* body : {"{not json", "{\"name\": \"x\",}", "[1, 2", "nul"}) {
    Response r = admin().request("POST", "/services", body);
    EXPECT_TRUE(isProblem(r, 400)) << "body: " << body;
  }
  // Bad JSON on the other write methods too.
  json svc = mustCreate("/services", serviceBody(uniqueName("badjson")));
  ASSERT_TRUE(svc.is_object());
  const std::string item = "/services/" + svc["name"].get<std::string>();
  EXPECT_TRUE(isProblem(admin().request("PUT", item, "{"), 400));
  EXPECT_TRUE(isProblem(admin().request("PATCH", item, "{"), 400));
  EXPECT_TRUE(isProblem(admin().request("PUT", "/config", "{"), 400));
}

TEST_F(AdminErrorsTest, BodyThatIsNotAnObjectIs400) {
  EXPECT_TRUE(isProblem(admin().request("POST", "/services", "[]"), 400));
  EXPECT_TRUE(isProblem(admin().request("POST", "/services", "\"orders\""), 400));
  EXPECT_TRUE(isProblem(admin().request("POST", "/services", ""), 400));
}

TEST_F(AdminErrorsTest, UnknownFieldIs400NamingIt) {
  json body = serviceBody(uniqueName("unknown"));
  body["colour"] = "red";
  Response r = admin().post("/services", body);
  EXPECT_TRUE(isProblem(r, 400));
  EXPECT_TRUE(namesField(r, "colour"));

  // Nested unknown fields are named with their path.
  json nested = serviceBody(uniqueName("unknown"));
  nested["targets"][0]["wieght"] = 5;
  Response n = admin().post("/services", nested);
  EXPECT_TRUE(isProblem(n, 400));
  EXPECT_TRUE(namesField(n, "targets[0].wieght"));

  Response c = admin().post("/consumers", {{"username", uniqueName("u")}, {"nickname", "x"}});
  EXPECT_TRUE(isProblem(c, 400));
  EXPECT_TRUE(namesField(c, "nickname"));
}

TEST_F(AdminErrorsTest, ValidationErrorsNameTheField) {
  json bad_url = serviceBody(uniqueName("v"));
  bad_url["targets"][0]["url"] = "not a url";
  Response r1 = admin().post("/services", bad_url);
  EXPECT_TRUE(isProblem(r1, 400));
  EXPECT_TRUE(namesField(r1, "targets[0].url"));

  json second_bad = serviceBody(uniqueName("v"));
  second_bad["targets"].push_back({{"url", "http://127.0.0.1:10"}, {"weight", 5000}});
  Response r2 = admin().post("/services", second_bad);
  EXPECT_TRUE(isProblem(r2, 400));
  EXPECT_TRUE(namesField(r2, "targets[1].weight"));

  json no_targets = {{"name", uniqueName("v")}, {"targets", json::array()}};
  Response r3 = admin().post("/services", no_targets);
  EXPECT_TRUE(isProblem(r3, 400));
  EXPECT_TRUE(namesField(r3, "targets"));

  json wrong_type = serviceBody(uniqueName("v"));
  wrong_type["retries"] = "two";
  Response r4 = admin().post("/services", wrong_type);
  EXPECT_TRUE(isProblem(r4, 400));
  EXPECT_TRUE(namesField(r4, "retries"));

  Response r5 = admin().post("/services", {{"targets", serviceBody("x")["targets"]}});
  EXPECT_TRUE(isProblem(r5, 400));
  EXPECT_TRUE(namesField(r5, "name"));

  json svc = mustCreate("/services", serviceBody(uniqueName("v-svc")));
  ASSERT_TRUE(svc.is_object());
  json bad_path = routeBody(uniqueName("v-route"), svc["name"].get<std::string>());
  bad_path["paths"] = {"no-leading-slash"};
  Response r6 = admin().post("/routes", bad_path);
  EXPECT_TRUE(isProblem(r6, 400));
  EXPECT_TRUE(namesField(r6, "paths[0]"));

  json bad_regex = routeBody(uniqueName("v-route"), svc["name"].get<std::string>());
  bad_regex["paths"] = {"/ok", "~/v[0-9+/items"};
  Response r7 = admin().post("/routes", bad_regex);
  EXPECT_TRUE(isProblem(r7, 400));
  EXPECT_TRUE(namesField(r7, "paths[1]"));

  json nothing_to_match = {{"name", uniqueName("v-route")}, {"service", svc["name"]}};
  Response r8 = admin().post("/routes", nothing_to_match);
  EXPECT_TRUE(isProblem(r8, 400)) << "a route needs one of hosts/paths/methods";

  Response r9 = admin().post("/rate-limit-policies",
                             {{"name", uniqueName("p")}, {"limit", 0}, {"window_s", 60}});
  EXPECT_TRUE(isProblem(r9, 400));
  EXPECT_TRUE(namesField(r9, "limit"));

  Response r10 = admin().post("/rate-limit-policies",
                              {{"name", uniqueName("p")}, {"limit", 5}, {"algorithm", "leaky"}});
  EXPECT_TRUE(isProblem(r10, 400));
  EXPECT_TRUE(namesField(r10, "algorithm"));
}

TEST_F(AdminErrorsTest, MissingReferenceIs400NamingTheField) {
  Response r = admin().post("/routes", routeBody(uniqueName("orphan"), "no-such-service"));
  EXPECT_TRUE(isProblem(r, 400));
  EXPECT_TRUE(namesField(r, "service"));

  json svc = mustCreate("/services", serviceBody(uniqueName("ref-svc")));
  json policy = mustCreate("/rate-limit-policies", policyBody(uniqueName("ref-pol")));
  ASSERT_TRUE(svc.is_object() && policy.is_object());
  json route = routeBody(uniqueName("ref-route"), svc["name"].get<std::string>());
  route["rate_limit_policies"] = {policy["name"], "no-such-policy"};
  Response r2 = admin().post("/routes", route);
  EXPECT_TRUE(isProblem(r2, 400));
  EXPECT_TRUE(namesField(r2, "rate_limit_policies[1]"));

  Response r3 = admin().post(
      "/consumers", {{"username", uniqueName("ref-c")}, {"rate_limit_policies", {"nope-x"}}});
  EXPECT_TRUE(isProblem(r3, 400));
  EXPECT_TRUE(namesField(r3, "rate_limit_policies[0]"));

  // A reference by a well-formed id that does not exist.
  Response r4 = admin().post("/routes", routeBody(uniqueName("orphan"), randomUuid()));
  EXPECT_TRUE(isProblem(r4, 400));
  EXPECT_TRUE(namesField(r4, "service"));
}

TEST_F(AdminErrorsTest, MissingOrWrongTokenIs401AndHealthNeedsNone) {
  HttpClient anonymous = process().anonymousClient();
  for (const char* target : {"/services", "/status", "/config", "/openapi.json", "/metrics",
                             "/consumers/x/keys", "/config/history"}) {
    Response r = anonymous.get(target);
    EXPECT_TRUE(isProblem(r, 401)) << "GET " << target << " without a token";
  }
  EXPECT_TRUE(isProblem(anonymous.post("/services", serviceBody(uniqueName("anon"))), 401));

  HttpClient wrong = process().anonymousClient();
  wrong.setBearer(process().token() + "x");
  EXPECT_TRUE(isProblem(wrong.get("/services"), 401));
  wrong.setBearer("");
  wrong.setDefaultHeader("Authorization", "Basic " + process().token());
  EXPECT_TRUE(isProblem(wrong.get("/services"), 401)) << "only Bearer is accepted";
  wrong.setDefaultHeader("Authorization", "Bearer");
  EXPECT_TRUE(isProblem(wrong.get("/services"), 401));

  Response health = anonymous.get("/health");
  EXPECT_EQ(health.status, 200) << health;
  EXPECT_EQ(health.json(), json({{"status", "ok"}})) << health;
  // With a token it works just as well.
  EXPECT_EQ(admin().get("/health").status, 200);
}

TEST_F(AdminErrorsTest, UnauthorizedWriteChangesNothing) {
  const int64_t v0 = storedVersion();
  const std::string name = uniqueName("anon-write");
  HttpClient anonymous = process().anonymousClient();
  EXPECT_TRUE(isProblem(anonymous.post("/services", serviceBody(name)), 401));
  EXPECT_TRUE(isProblem(admin().get("/services/" + name), 404));
  EXPECT_EQ(storedVersion(), v0);
}

TEST_F(AdminErrorsTest, NotFoundIs404) {
  for (const char* target : {"/services/no-such-service", "/routes/no-such-route",
                             "/consumers/no-such-consumer", "/rate-limit-policies/no-such-policy",
                             "/consumers/no-such-consumer/keys", "/config/history/999999999"}) {
    EXPECT_TRUE(isProblem(admin().get(target), 404)) << "GET " << target;
  }
  EXPECT_TRUE(isProblem(admin().get("/services/" + randomUuid()), 404));
  EXPECT_TRUE(isProblem(admin().del("/services/no-such-service"), 404));
  EXPECT_TRUE(isProblem(admin().patch("/services/no-such-service", {{"retries", 1}}), 404));
  EXPECT_TRUE(isProblem(admin().post("/consumers/no-such-consumer/keys", json::object()), 404));

  json consumer = mustCreate("/consumers", consumerBody(uniqueName("nf")));
  ASSERT_TRUE(consumer.is_object());
  const std::string keys = "/consumers/" + consumer["username"].get<std::string>() + "/keys/";
  EXPECT_TRUE(isProblem(admin().get(keys + randomUuid()), 404));
  EXPECT_TRUE(isProblem(admin().del(keys + randomUuid()), 404));

  // An unknown path is a 404 problem too.
  EXPECT_TRUE(isProblem(admin().get("/no/such/path"), 404));
  EXPECT_TRUE(isProblem(admin().get("/servicesx"), 404));
}

TEST_F(AdminErrorsTest, WrongMethodIs405WithAllow) {
  Response r = admin().del("/services");
  EXPECT_TRUE(isProblem(r, 405));
  const std::string allow = r.headerOr("Allow");
  EXPECT_NE(allow.find("GET"), std::string::npos) << r;
  EXPECT_NE(allow.find("POST"), std::string::npos) << r;

  EXPECT_TRUE(isProblem(admin().post("/services/some-name", serviceBody("x")), 405));
  EXPECT_TRUE(isProblem(admin().request("POST", "/status", "{}"), 405));
  EXPECT_TRUE(isProblem(admin().del("/config"), 405));
  EXPECT_TRUE(isProblem(admin().request("PUT", "/consumers/c/keys/k", "{}"), 405));
}

TEST_F(AdminErrorsTest, DuplicateNameIs409) {
  const std::string name = uniqueName("dup");
  ASSERT_TRUE(mustCreate("/services", serviceBody(name)).is_object());
  Response r = admin().post("/services", serviceBody(name));
  EXPECT_TRUE(isProblem(r, 409));

  const std::string username = uniqueName("dup-user");
  ASSERT_TRUE(mustCreate("/consumers", consumerBody(username)).is_object());
  EXPECT_TRUE(isProblem(admin().post("/consumers", consumerBody(username)), 409));

  const std::string policy = uniqueName("dup-pol");
  ASSERT_TRUE(mustCreate("/rate-limit-policies", policyBody(policy)).is_object());
  EXPECT_TRUE(isProblem(admin().post("/rate-limit-policies", policyBody(policy)), 409));

  const std::string route = uniqueName("dup-route");
  ASSERT_TRUE(mustCreate("/routes", routeBody(route, name)).is_object());
  EXPECT_TRUE(isProblem(admin().post("/routes", routeBody(route, name)), 409));

  // Renaming onto a taken name is a conflict too.
  const std::string other = uniqueName("dup-other");
  ASSERT_TRUE(mustCreate("/services", serviceBody(other)).is_object());
  EXPECT_TRUE(isProblem(admin().patch("/services/" + other, {{"name", name}}), 409));

  // A taken id as well.
  json first = mustCreate("/services", serviceBody(uniqueName("dup-id")));
  ASSERT_TRUE(first.is_object());
  json same_id = serviceBody(uniqueName("dup-id"));
  same_id["id"] = first["id"];
  EXPECT_TRUE(isProblem(admin().post("/services", same_id), 409));
}

TEST_F(AdminErrorsTest, StaleIfMatchIs412AndChangesNothing) {
  const std::string name = uniqueName("stale");
  Response created = admin().post("/services", serviceBody(name));
  ASSERT_EQ(created.status, 201) << created;
  const std::string old_tag = created.headerOr("ETag");
  Response changed = admin().patch("/services/" + name, {{"retries", 4}});
  ASSERT_EQ(changed.status, 200) << changed;
  const std::string current_tag = changed.headerOr("ETag");
  ASSERT_NE(old_tag, current_tag);
  const int64_t v = storedVersion();

  json replacement = serviceBody(name);
  replacement["retries"] = 9;
  EXPECT_TRUE(
      isProblem(admin().put("/services/" + name, replacement, {{"If-Match", old_tag}}), 412));
  EXPECT_TRUE(isProblem(
      admin().patch("/services/" + name, {{"retries", 9}}, {{"If-Match", old_tag}}), 412));
  EXPECT_TRUE(isProblem(admin().del("/services/" + name, {{"If-Match", old_tag}}), 412));
  EXPECT_TRUE(isProblem(admin().del("/services/" + name, {{"If-Match", "\"garbage\""}}), 412));

  // If-Match names an entity that must exist: PUT does not create then.
  const std::string absent = uniqueName("absent");
  EXPECT_TRUE(isProblem(
      admin().put("/services/" + absent, serviceBody(absent), {{"If-Match", old_tag}}), 412));
  EXPECT_TRUE(isProblem(admin().get("/services/" + absent), 404));

  Response now = admin().get("/services/" + name);
  ASSERT_EQ(now.status, 200) << now;
  EXPECT_EQ(now.headerOr("ETag"), current_tag);
  EXPECT_EQ(now.json()["retries"], 4);
  EXPECT_EQ(storedVersion(), v);
}

TEST_F(AdminErrorsTest, BodyOver1MiBIs413) {
  // Valid JSON padded with whitespace: only the size is wrong.
  std::string body = serviceBody(uniqueName("big")).dump();
  body.append(kMiB + 1 - body.size(), ' ');
  ASSERT_EQ(body.size(), kMiB + 1);
  const int64_t v = storedVersion();
  Response r = admin().request("POST", "/services", body);
  EXPECT_TRUE(isProblem(r, 413));

  std::string much_bigger = serviceBody(uniqueName("bigger")).dump();
  much_bigger.append(3 * kMiB, ' ');
  EXPECT_TRUE(isProblem(admin().request("PUT", "/config", much_bigger), 413));

  // The server still answers afterwards, on this client and a fresh one.
  EXPECT_EQ(admin().get("/health").status, 200);
  EXPECT_EQ(process().adminClient().get("/status").status, 200);
  EXPECT_EQ(storedVersion(), v);
}

TEST_F(AdminErrorsTest, BodyOfExactly1MiBIsNotRefusedForSize) {
  const std::string name = uniqueName("max");
  std::string body = serviceBody(name).dump();
  body.append(kMiB - body.size(), ' ');
  ASSERT_EQ(body.size(), kMiB);
  Response r = admin().request("POST", "/services", body);
  EXPECT_EQ(r.status, 201) << r;
}

TEST_F(AdminErrorsTest, DeletingAServiceInUseIsRefusedAndChangesNothing) {
  const std::string svc = uniqueName("in-use");
  ASSERT_TRUE(mustCreate("/services", serviceBody(svc)).is_object());
  const std::string route = uniqueName("user");
  ASSERT_TRUE(mustCreate("/routes", routeBody(route, svc)).is_object());
  const int64_t v = storedVersion();
  Response r = admin().del("/services/" + svc);
  EXPECT_TRUE(r.status == 400 || r.status == 409) << r;
  EXPECT_TRUE(isProblem(r, r.status));
  EXPECT_EQ(admin().get("/services/" + svc).status, 200);
  EXPECT_EQ(admin().get("/routes/" + route).status, 200);
  EXPECT_EQ(storedVersion(), v);
}

// Every kind of failed write: afterwards the stored version, the history and the entity are
// exactly what they were.
TEST_F(AdminErrorsTest, FailedWritesChangeNothing) {
  const std::string name = uniqueName("untouched");
  Response created = admin().post("/services", serviceBody(name));
  ASSERT_EQ(created.status, 201) << created;
  const std::string item = "/services/" + name;
  const std::string tag = created.headerOr("ETag");
  const json entity = created.json();
  const int64_t v = storedVersion();
  const json history = mustGet("/config/history?size=1");
  const json config = mustGet("/config");

  std::string too_big = serviceBody(uniqueName("big")).dump();
  too_big.append(kMiB, ' ');
  json bad_target = serviceBody(name);
  bad_target["targets"][0]["url"] = "ftp://nope";
  json stale_put = serviceBody(name);
  stale_put["retries"] = 1;

  struct Attempt {
    std::string method, target, body;
    Headers headers;
  };
  const Attempt attempts[] = {
      {"POST", "/services", "{oops", {}},
      {"POST", "/services", serviceBody(name).dump(), {}},  // duplicate name
      {"POST", "/services", too_big, {}},
      {"PUT", item, bad_target.dump(), {}},
      {"PUT", item, stale_put.dump(), {{"If-Match", "\"stale\""}}},
      {"PATCH", item, R"({"targets": []})", {}},
      {"PATCH", item, R"({"colour": "red"})", {}},
      {"DELETE", item, "", {{"If-Match", "\"stale\""}}},
      {"DELETE", "/services/no-such-thing", "", {}},
      {"POST", "/routes", routeBody(uniqueName("r"), "missing-svc").dump(), {}},
      {"PUT", "/config", R"({"services": [{"name": "x"}]})", {}},
      {"POST", "/config/history/999999999/restore", "", {}},
  };
  for (const Attempt& a : attempts) {
    Response r = admin().request(a.method, a.target, a.body, a.headers);
    EXPECT_GE(r.status, 400) << a.method << " " << a.target << "\n" << r;
    EXPECT_LT(r.status, 500) << a.method << " " << a.target << "\n" << r;
    EXPECT_TRUE(isProblem(r, r.status)) << a.method << " " << a.target;
    if (const std::string* version = r.header("X-Config-Version")) {
      EXPECT_EQ(*version, std::to_string(v))
          << "a failed write must not report a new version: " << a.method << " " << a.target;
    }
    EXPECT_EQ(storedVersion(), v) << "after " << a.method << " " << a.target;
  }
  Response now = admin().get(item);
  EXPECT_EQ(now.headerOr("ETag"), tag);
  EXPECT_EQ(now.json(), entity);
  EXPECT_EQ(mustGet("/config/history?size=1"), history);
  EXPECT_EQ(mustGet("/config"), config);
}

// The admin token when TURNPIKE_ADMIN_TOKEN is not set: made at the first start, printed once,
// kept (as a hash) across restarts; setting the variable later replaces it.
TEST(AdminTokenTest, GeneratedTokenIsPrintedOnceAndKeptAcrossRestarts) {
  ProcessOptions options;
  options.set_token_env = false;
  TurnpikeProcess tp(options);
  ASSERT_TRUE(tp.start());

  auto printedToken = [&](const std::string& out) -> std::string {
    // Only the output of the latest start (the support library marks each start).
    std::string last = out.substr(out.rfind("---- start"));
    const std::string marker = "admin token: ";
    size_t at = last.find(marker);
    if (at == std::string::npos) return "";
    size_t end = last.find_first_of(" \r\n", at + marker.size());
    return last.substr(at + marker.size(), end - at - marker.size());
  };
  const std::string token = printedToken(tp.stdoutText());
  ASSERT_FALSE(token.empty()) << "no \"admin token: \" line on stdout:\n" << tp.stdoutText();
  tp.setToken(token);
  EXPECT_EQ(tp.adminClient().get("/services").status, 200);
  EXPECT_TRUE(isProblem(tp.anonymousClient().get("/services"), 401));

  ASSERT_TRUE(tp.restart());
  EXPECT_EQ(printedToken(tp.stdoutText()), "") << "a stored token is not printed again:\n"
                                               << tp.stdoutText();
  EXPECT_EQ(tp.adminClient().get("/services").status, 200) << "the first token still works";

  // The stored hash only: the token itself is not in the database file.
  EXPECT_EQ((readFile(tp.dbPath()) + readFile(tp.dbPath() + "-wal")).find(token),
            std::string::npos);

  // TURNPIKE_ADMIN_TOKEN wins over the stored one.
  const std::string chosen = randomToken();
  tp.setEnvToken(chosen);
  ASSERT_TRUE(tp.restart());
  EXPECT_EQ(printedToken(tp.stdoutText()), "");
  EXPECT_EQ(tp.adminClient().get("/services").status, 200);
  HttpClient old = tp.anonymousClient();
  old.setBearer(token);
  EXPECT_TRUE(isProblem(old.get("/services"), 401)) << "the generated token was replaced";
}

TEST(AdminTokenTest, EnvironmentTokenIsNeverPrinted) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  EXPECT_EQ(tp.adminClient().get("/status").status, 200);
  tp.stop();
  EXPECT_EQ(tp.stdoutText().find(tp.token()), std::string::npos) << tp.stdoutText();
  EXPECT_EQ(tp.stderrText().find(tp.token()), std::string::npos) << tp.stderrText();
  EXPECT_EQ(tp.stdoutText().find("admin token:"), std::string::npos) << tp.stdoutText();
}

}  // namespace
}  // namespace turnpike::test_support
