// Whole-configuration operations (API.md "Operations"): GET /config export, PUT /config import
// (atomic, ?dry_run=true), history with who/what/when, restore as a new version, and the
// `turnpike config export|import` command line on a stopped server's database.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/support/admin_fixture.h"
#include "tests/support/process_stats.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

class AdminConfigTest : public AdminSuiteTest {
 protected:
  // A small configuration using every kind of entity and reference; returns the service name.
  std::string populate() {
    const std::string svc = uniqueName("cfg-svc");
    const std::string pol = uniqueName("cfg-pol");
    const std::string user = uniqueName("cfg-user");
    EXPECT_TRUE(mustCreate("/services", serviceBody(svc)).is_object());
    EXPECT_TRUE(mustCreate("/rate-limit-policies", policyBody(pol)).is_object());
    json route = routeBody(uniqueName("cfg-route"), svc);
    route["rate_limit_policies"] = {pol};
    route["auth"] = {{"type", "api_key"}};
    EXPECT_TRUE(mustCreate("/routes", route).is_object());
    EXPECT_TRUE(
        mustCreate("/consumers", {{"username", user}, {"rate_limit_policies", {pol}}}).is_object());
    EXPECT_TRUE(mustCreate("/consumers/" + user + "/keys", json::object()).is_object());
    return svc;
  }
};

TEST_F(AdminConfigTest, ExportHasEveryCollectionAndTheVersion) {
  populate();
  Response r = admin().get("/config");
  ASSERT_EQ(r.status, 200) << r;
  json config = r.json();
  for (const char* key : {"services", "routes", "consumers", "api_keys", "rate_limit_policies"}) {
    ASSERT_TRUE(config.contains(key) && config[key].is_array()) << key << " in " << config;
    EXPECT_FALSE(config[key].empty()) << key;
  }
  EXPECT_EQ(config["version"], storedVersion());
  for (const auto& key : config["api_keys"]) {
    EXPECT_FALSE(key.contains("key")) << "keys are exported as hashes only: " << key;
    EXPECT_TRUE(key.contains("key_hash")) << key;
  }
}

// A large import does not leave the process at its peak size: once the changes stop, what the
// import, the load and the build freed goes back to the system, not only to the allocator.
TEST_F(AdminConfigTest, MemoryOfALargeImportIsGivenBackOnceQuiet) {
  if (!kRssReflectsFrees) GTEST_SKIP() << "freed memory stays resident under AddressSanitizer";
  TurnpikeProcess fresh;
  ASSERT_TRUE(fresh.start());
  HttpClient client = fresh.adminClient();
  const uint64_t before = rssBytes(fresh.pid());
  json config = {{"services", json::array({serviceBody("bulk-svc")})}, {"routes", json::array()}};
  for (int i = 0; i < 5000; ++i) {
    config["routes"].push_back(routeBody("bulk-route-" + std::to_string(i), "bulk-svc"));
  }
  Response put = client.put("/config?wait_for_proxy=true", config);
  ASSERT_EQ(put.status, 200) << put.body.substr(0, 500);

  // Measured with glibc: the import takes the process from ~40 to ~100 MiB, and trimming brings
  // it back to ~65 MiB (the configuration it now holds); without it, it stays at the peak.
  uint64_t peak = 0;
  uint64_t rss = 0;
  auto gaveBackAThird = [&] {  // of what the import added
    peak = peakRssBytes(fresh.pid());
    rss = rssBytes(fresh.pid());
    return peak - std::min(rss, peak) >= (peak - std::min(before, peak)) / 3;
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!gaveBackAThird() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(gaveBackAThird()) << "before the import " << before / kMiB << " MiB, peak "
                                << peak / kMiB << " MiB, now " << rss / kMiB << " MiB";
  // Everything imported is still there.
  EXPECT_EQ(client.get("/routes/bulk-route-4999").status, 200);
}

TEST_F(AdminConfigTest, ExportImportRoundTripIntoAFreshProcess) {
  populate();
  json exported = mustGet("/config");
  ASSERT_TRUE(exported.is_object());

  TurnpikeProcess second;
  ASSERT_TRUE(second.start());
  HttpClient other = second.adminClient();
  Response put = other.put("/config", exported);
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_TRUE(put.hasHeader("X-Config-Version")) << put;
  Response got = other.get("/config");
  ASSERT_EQ(got.status, 200) << got;
  EXPECT_EQ(without(got.json(), {"version"}), without(exported, {"version"}))
      << "the import must reproduce every entity, id and timestamp";

  // Entities are addressable on the second process as on the first.
  for (const auto& s : exported["services"]) {
    Response one = other.get("/services/" + s["name"].get<std::string>());
    EXPECT_EQ(one.status, 200) << one;
    EXPECT_EQ(one.json(), s);
  }
  // Importing the same document again changes nothing.
  json status = other.get("/status").json();
  Response again = other.put("/config", exported);
  EXPECT_EQ(again.status, 200) << again;
  EXPECT_EQ(other.get("/status").json()["config_version"], status["config_version"]);
}

TEST_F(AdminConfigTest, ImportReplacesTheWholeConfigurationAsOneVersion) {
  populate();
  const int64_t v = storedVersion();
  json exported = mustGet("/config");
  ASSERT_TRUE(exported.is_object());
  // Drop all routes and one service (not referenced any more), add a service.
  json changed = exported;
  changed["routes"] = json::array();
  const std::string dropped = changed["services"].back()["name"];
  changed["services"].erase(changed["services"].size() - 1);
  const std::string added = uniqueName("imported");
  changed["services"].push_back(serviceBody(added));

  Response r = admin().put("/config", changed);
  ASSERT_EQ(r.status, 200) << r;
  EXPECT_TRUE(hasConfigVersion(r, v + 1)) << "one import, one version";
  EXPECT_EQ(storedVersion(), v + 1);
  EXPECT_EQ(mustGet("/routes")["data"], json::array());
  EXPECT_TRUE(isProblem(admin().get("/services/" + dropped), 404));
  EXPECT_EQ(admin().get("/services/" + added).status, 200);
  json body = r.json();
  ASSERT_TRUE(body.contains("changes") && body["changes"].is_array()) << body;
  EXPECT_GE(body["changes"].size(), exported["routes"].size() + 2);
}

TEST_F(AdminConfigTest, FailedImportChangesNothing) {
  populate();
  const int64_t v = storedVersion();
  json before = mustGet("/config");
  ASSERT_TRUE(before.is_object());

  json broken = before;
  broken["services"] = json::array();  // routes now point at missing services
  broken["consumers"].push_back(consumerBody(uniqueName("would-be-new")));
  Response r = admin().put("/config", broken);
  EXPECT_TRUE(isProblem(r, 400));
  bool names_a_service_reference = false;
  for (const auto& e : r.json().value("errors", json::array())) {
    const std::string f = e.value("field", "");
    names_a_service_reference |= f.starts_with("routes[") && f.ends_with("].service");
  }
  EXPECT_TRUE(names_a_service_reference) << "expected a field routes[i].service:\n" << r;

  json invalid = before;
  invalid["services"].push_back({{"name", uniqueName("no-targets")}});
  Response r2 = admin().put("/config", invalid);
  EXPECT_TRUE(isProblem(r2, 400));
  const std::string field = "services[" + std::to_string(before["services"].size()) + "].targets";
  EXPECT_TRUE(namesField(r2, field));

  Response r3 = admin().put("/config", {{"services", json::array()}, {"gadgets", json::array()}});
  EXPECT_TRUE(isProblem(r3, 400));
  EXPECT_TRUE(namesField(r3, "gadgets"));

  EXPECT_EQ(storedVersion(), v);
  EXPECT_EQ(mustGet("/config"), before);
}

TEST_F(AdminConfigTest, DryRunReturnsTheChangesAndChangesNothing) {
  const std::string svc = populate();
  const int64_t v = storedVersion();
  json before = mustGet("/config");
  ASSERT_TRUE(before.is_object());

  json proposed = before;
  const std::string added = uniqueName("dry");
  proposed["services"].push_back(serviceBody(added));
  for (auto& s : proposed["services"]) {
    if (s["name"] == svc) s["retries"] = 9;
  }
  Response r = admin().put("/config?dry_run=true", proposed);
  ASSERT_EQ(r.status, 200) << r;
  json body = r.json();
  ASSERT_TRUE(body.contains("changes") && body["changes"].is_array()) << body;
  EXPECT_EQ(body["changes"].size(), 2u) << body;
  bool saw_create = false, saw_update = false;
  for (const auto& c : body["changes"]) {
    if (c["before"].is_null() && c["after"].is_object() && c["after"]["name"] == added) {
      saw_create = true;
    }
    if (c["before"].is_object() && c["after"].is_object() && c["after"]["name"] == svc) {
      saw_update = c["before"]["retries"] == 2 && c["after"]["retries"] == 9;
    }
  }
  EXPECT_TRUE(saw_create) << body;
  EXPECT_TRUE(saw_update) << body;
  if (const std::string* header = r.header("X-Config-Version")) {
    EXPECT_EQ(*header, std::to_string(v)) << "a dry run makes no version";
  }

  EXPECT_EQ(storedVersion(), v);
  EXPECT_EQ(mustGet("/config"), before);
  EXPECT_TRUE(isProblem(admin().get("/services/" + added), 404));
  EXPECT_EQ(mustGet("/config/history?size=1")["data"][0]["version"], v);
}

TEST_F(AdminConfigTest, HistoryListsVersionsWithActorActionAndTime) {
  const int64_t start = static_cast<int64_t>(std::time(nullptr));
  const std::string name = uniqueName("hist");
  ASSERT_TRUE(mustCreate("/services", serviceBody(name)).is_object());
  const int64_t v1 = storedVersion();
  ASSERT_EQ(admin().patch("/services/" + name, {{"retries", 6}}).status, 200);
  ASSERT_EQ(admin().del("/services/" + name).status, 204);

  json history = mustGet("/config/history?size=3");
  ASSERT_TRUE(history.is_object());
  ASSERT_EQ(history["data"].size(), 3u) << history;
  const char* actions[] = {"delete", "update", "create"};
  for (int i = 0; i < 3; ++i) {
    const json& e = history["data"][i];
    EXPECT_EQ(e["version"], v1 + 2 - i) << e;
    EXPECT_EQ(e["action"], actions[i]) << e;
    EXPECT_TRUE(e["actor"].is_string() && !e["actor"].get<std::string>().empty()) << e;
    ASSERT_TRUE(e["at"].is_number_integer()) << e;
    EXPECT_GE(e["at"].get<int64_t>(), start - 1);
    EXPECT_LE(e["at"].get<int64_t>(), start + 60);
  }

  // One version's change: the service before and after the update.
  json update = mustGet("/config/history/" + std::to_string(v1 + 1));
  ASSERT_TRUE(update.is_object());
  EXPECT_EQ(update["version"], v1 + 1);
  EXPECT_EQ(update["action"], "update");
  ASSERT_TRUE(update["changes"].is_array() && update["changes"].size() == 1u) << update;
  const json& change = update["changes"][0];
  EXPECT_EQ(change["entity_type"], "service");
  EXPECT_EQ(change["before"]["retries"], 2);
  EXPECT_EQ(change["after"]["retries"], 6);
  json created = mustGet("/config/history/" + std::to_string(v1));
  EXPECT_TRUE(created["changes"][0]["before"].is_null()) << created;
  json deleted = mustGet("/config/history/" + std::to_string(v1 + 2));
  EXPECT_TRUE(deleted["changes"][0]["after"].is_null()) << deleted;
}

TEST_F(AdminConfigTest, HistoryRecordsTheActorHeader) {
  // The admin UI and scripts say who they act for; history shows it.
  Response r =
      admin().post("/services", serviceBody(uniqueName("actor")), {{"X-Turnpike-Actor", "alice"}});
  ASSERT_EQ(r.status, 201) << r;
  json latest = mustGet("/config/history?size=1");
  EXPECT_EQ(latest["data"][0]["actor"], "alice") << latest;
}

TEST_F(AdminConfigTest, RestoreBringsBackAnOldStateAsANewVersion) {
  const std::string name = uniqueName("restore");
  ASSERT_TRUE(mustCreate("/services", serviceBody(name)).is_object());
  const std::string doomed = uniqueName("doomed");
  ASSERT_TRUE(mustCreate("/services", serviceBody(doomed)).is_object());
  const int64_t old_version = storedVersion();
  json old_config = mustGet("/config");
  ASSERT_EQ(old_config["version"], old_version);

  // Later changes: an update, a new service, a deletion.
  ASSERT_EQ(admin().patch("/services/" + name, {{"retries", 8}}).status, 200);
  const std::string later = uniqueName("later");
  ASSERT_TRUE(mustCreate("/services", serviceBody(later)).is_object());
  ASSERT_EQ(admin().del("/services/" + doomed).status, 204);
  const int64_t latest = storedVersion();

  Response restored =
      admin().request("POST", "/config/history/" + std::to_string(old_version) + "/restore");
  ASSERT_EQ(restored.status, 200) << restored;
  EXPECT_TRUE(hasConfigVersion(restored, latest + 1)) << "a restore is a new version";
  json now = mustGet("/config");
  EXPECT_EQ(now["version"], latest + 1);
  EXPECT_EQ(without(now, {"version"}), without(old_config, {"version"}));
  EXPECT_TRUE(isProblem(admin().get("/services/" + later), 404));
  EXPECT_EQ(mustGet("/services/" + name)["retries"], 2);
  EXPECT_EQ(admin().get("/services/" + doomed).status, 200) << "a deleted service comes back";

  json history = mustGet("/config/history?size=1");
  EXPECT_EQ(history["data"][0]["version"], latest + 1);
  EXPECT_EQ(history["data"][0]["action"], "restore");
  // The versions in between are still in the history.
  EXPECT_EQ(admin().get("/config/history/" + std::to_string(latest)).status, 200);
}

TEST_F(AdminConfigTest, RestoreOfAnUnknownVersionIs404) {
  const int64_t v = storedVersion();
  EXPECT_TRUE(isProblem(
      admin().request("POST", "/config/history/" + std::to_string(v + 1000) + "/restore"), 404));
  EXPECT_TRUE(isProblem(admin().request("POST", "/config/history/abc/restore"), 400));
  EXPECT_EQ(storedVersion(), v);
}

// The command line on the database of a stopped server.
TEST(AdminConfigCliTest, ExportAndImportOnAStoppedServersDatabase) {
  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();
  const std::string svc = uniqueName("cli-svc");
  ASSERT_EQ(admin.post("/services", serviceBody(svc)).status, 201);
  const std::string user = uniqueName("cli-user");
  ASSERT_EQ(admin.post("/consumers", consumerBody(user)).status, 201);
  ASSERT_EQ(admin.post("/consumers/" + user + "/keys", json::object()).status, 201);
  json served = admin.get("/config").json();
  tp.stop();
  EXPECT_TRUE(tp.exitedCleanly()) << "SIGTERM should end turnpike with status 0; wait status "
                                  << tp.lastWaitStatus();

  CommandResult exported = runTurnpike({"config", "export", "--db", tp.dbPath()});
  ASSERT_EQ(exported.exit_code, 0) << exported.err;
  json cli_config = json::parse(exported.out, nullptr, false);
  ASSERT_FALSE(cli_config.is_discarded()) << "stdout is not JSON:\n" << exported.out;
  EXPECT_EQ(cli_config, served) << "the CLI exports what GET /config served";

  // A dry run changes nothing.
  json proposed = cli_config;
  const std::string added = uniqueName("cli-added");
  proposed["services"].push_back(serviceBody(added));
  const std::string file = tp.dir() + "/proposed.json";
  ASSERT_TRUE(writeFile(file, proposed.dump(2)));
  CommandResult dry = runTurnpike({"config", "import", file, "--db", tp.dbPath(), "--dry-run"});
  EXPECT_EQ(dry.exit_code, 0) << dry.err;
  EXPECT_NE(dry.out.find("service"), std::string::npos)
      << "the dry run should show the service it would create:\n"
      << dry.out;
  CommandResult unchanged = runTurnpike({"config", "export", "--db", tp.dbPath()});
  ASSERT_EQ(unchanged.exit_code, 0) << unchanged.err;
  EXPECT_EQ(json::parse(unchanged.out, nullptr, false), cli_config);

  // A real import applies it as one new version, and the server sees it after a start.
  CommandResult imported = runTurnpike({"config", "import", file, "--db", tp.dbPath()});
  EXPECT_EQ(imported.exit_code, 0) << imported.err;
  CommandResult after = runTurnpike({"config", "export", "--db", tp.dbPath()});
  json after_config = json::parse(after.out, nullptr, false);
  ASSERT_FALSE(after_config.is_discarded()) << after.out;
  EXPECT_EQ(after_config["version"], cli_config["version"].get<int64_t>() + 1);
  EXPECT_EQ(after_config["services"].size(), cli_config["services"].size() + 1);

  ASSERT_TRUE(tp.restart());
  HttpClient again = tp.adminClient();
  EXPECT_EQ(again.get("/services/" + added).status, 200);
  EXPECT_EQ(again.get("/status").json()["config_version"], after_config["version"]);
}

TEST(AdminConfigCliTest, InvalidImportFailsAndChangesNothing) {
  TempDir dir;
  const std::string db = dir.path() + "/turnpike.db";
  CommandResult migrated = runTurnpike({"migrate", "--db", db});
  ASSERT_EQ(migrated.exit_code, 0) << migrated.err;
  CommandResult before = runTurnpike({"config", "export", "--db", db});
  ASSERT_EQ(before.exit_code, 0) << before.err;

  const std::string file = dir.path() + "/bad.json";
  ASSERT_TRUE(writeFile(file, R"({"services": [{"name": "x", "targets": [{"url": "nope"}]}]})"));
  CommandResult bad = runTurnpike({"config", "import", file, "--db", db});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE((bad.out + bad.err).find("targets[0].url"), std::string::npos)
      << "the error should name the field:\n"
      << bad.out << bad.err;
  ASSERT_TRUE(writeFile(file, "{not json"));
  EXPECT_NE(runTurnpike({"config", "import", file, "--db", db}).exit_code, 0);

  CommandResult after = runTurnpike({"config", "export", "--db", db});
  EXPECT_EQ(after.out, before.out);
}

TEST(CommandLineTest, VersionAndHelp) {
  CommandResult version = runTurnpike({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_NE(version.out.find("turnpike"), std::string::npos) << version.out;
  CommandResult help = runTurnpike({"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.err;
  for (const char* word : {"serve", "migrate", "config"}) {
    EXPECT_NE(help.out.find(word), std::string::npos) << help.out;
  }
  CommandResult serve_help = runTurnpike({"serve", "--help"});
  EXPECT_EQ(serve_help.exit_code, 0);
  for (const char* option :
       {"--db", "--proxy-listen", "--admin-listen", "--workers", "--log-level"}) {
    EXPECT_NE(serve_help.out.find(option), std::string::npos) << serve_help.out;
  }
  EXPECT_NE(runTurnpike({"no-such-command"}).exit_code, 0);
}

}  // namespace
}  // namespace turnpike::test_support
