// Durability of the admin API when the process dies at any moment (DESIGN.md: SQLite WAL,
// synchronous=FULL, one transaction per write), and the promise that bad input writes nothing.
//
// The crash test drives a random mix of writes of every entity kind from one thread while the
// test kills the server with SIGKILL at a random moment, restarts it on the same database, and
// compares what the server holds with what it acknowledged: every 2xx write is there with the
// acknowledged content, every acknowledged delete is gone, the one write in flight at the kill
// is either wholly applied or not at all, and the history has one version per write without
// gaps. The database file passes `PRAGMA integrity_check` after each crash and at the end.
//
// The random choices come from a seed printed at the start; TURNPIKE_KILL_SEED=<n> replays one.
#include <SQLiteCpp/SQLiteCpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/admin_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/process_stats.h"
#include "tests/support/sha256.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr int kCycles = 12;
// On a slow machine fewer cycles, but never fewer than kMinCycles: no new cycle starts once the
// test has run this long.
constexpr int kMinCycles = 4;
constexpr std::chrono::seconds kTimeBudget{20};
constexpr int kMaxKillDelayMs = 150;

// `PRAGMA integrity_check` of the database file: "ok" when intact, else SQLite's findings.
std::string integrityCheck(const std::string& path, bool read_only) {
  try {
    SQLite::Database db(path, read_only ? SQLite::OPEN_READONLY : SQLite::OPEN_READWRITE);
    SQLite::Statement check(db, "PRAGMA integrity_check");
    std::string result;
    while (check.executeStep()) result += check.getColumn(0).getString() + "\n";
    if (result == "ok\n") return "ok";
    return result;
  } catch (const std::exception& e) {
    return std::string("cannot check: ") + e.what();
  }
}

// The database as a crash left it, checked on a copy (opening the original could recover its
// write-ahead log before the restarted server does, hiding what the server itself would find).
std::string integrityCheckAfterCrash(const std::string& db_path, const std::string& scratch) {
  namespace fs = std::filesystem;
  const std::string copy = scratch + "/crashed.db";
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-journal"}) {
    fs::remove(copy + suffix, ec);
    if (fs::exists(db_path + suffix)) {
      fs::copy_file(db_path + suffix, copy + suffix, ec);
      if (ec) return "cannot copy " + db_path + suffix + ": " + ec.message();
    }
  }
  fs::remove(copy + "-shm", ec);
  return integrityCheck(copy, /*read_only=*/false);
}

// The configuration the test expects, keyed "service/<name>", "route/<name>",
// "consumer/<username>", "policy/<name>" and "key/<id>", each holding the entity as the server
// last acknowledged it (keys: the creation answer, which alone holds the key itself).
using Model = std::map<std::string, json>;

// One write and what it changes in the model.
struct Write {
  std::string method;
  std::string target;
  json body;           // null: no body
  std::string key;     // the model entry it changes ("key/?" for a key not created yet)
  bool erase = false;  // a delete
  std::string stamp;   // the unique tag a create or update sets: tells whether it was applied
  std::string action;  // the history's action: create, update, delete

  std::string describe() const {
    return method + " " + target + (body.is_null() ? "" : " " + body.dump());
  }
};

struct Acknowledged {
  int64_t version;
  std::string action;
  std::string what;
};

// Makes random valid writes against the model it is given, and keeps the model in step with
// what the server acknowledges. Runs on the writer thread; the test thread reads the results
// only after joining it.
class Writer {
 public:
  Writer(Model model, uint32_t seed, int* counter)
      : model_(std::move(model)), rng_(seed), counter_(counter) {}

  // Writes until a request gets no answer (the server died), or `max` writes.
  void run(HttpClient& client, int max = 400) {
    for (int i = 0; i < max; ++i) {
      Write w = next();
      Response r = w.method == "DELETE" ? client.del(w.target)
                   : w.body.is_null()   ? client.request(w.method, w.target)
                                        : client.request(w.method, w.target, w.body.dump());
      if (r.status == 0) {
        in_flight_ = std::move(w);
        return;
      }
      if (r.status / 100 != 2) {
        error_ = "a valid write was refused: " + w.describe() + "\n" + ::testing::PrintToString(r);
        return;
      }
      const std::string version = r.headerOr("X-Config-Version");
      if (version.empty()) {
        error_ = "no X-Config-Version: " + w.describe();
        return;
      }
      acknowledged_.push_back({std::stoll(version), w.action, w.describe()});
      if (w.erase) {
        eraseFromModel(w.key);
      } else {
        json entity = r.json();
        std::string key = w.key;
        if (key == "key/?") key = "key/" + entity.value("id", "");
        model_[key] = std::move(entity);
      }
    }
  }

  Model& model() { return model_; }
  const std::optional<Write>& inFlight() const { return in_flight_; }
  const std::vector<Acknowledged>& acknowledged() const { return acknowledged_; }
  const std::string& error() const { return error_; }

 private:
  // Entries of the model of one kind ("service/").
  std::vector<std::string> keysOf(const std::string& prefix) const {
    std::vector<std::string> out;
    for (const auto& [key, value] : model_) {
      if (key.rfind(prefix, 0) == 0) out.push_back(key);
    }
    return out;
  }
  std::string pick(const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<size_t>(0, from.size() - 1)(rng_)];
  }
  int number(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  std::string fresh(const std::string& prefix) {
    return "kill-" + prefix + "-" + std::to_string(++*counter_);
  }
  static std::string nameOf(const std::string& key) { return key.substr(key.find('/') + 1); }

  // A consumer's delete takes its keys along (one history entry).
  void eraseFromModel(const std::string& key) {
    if (key.rfind("consumer/", 0) == 0) {
      const std::string id = model_[key].value("id", "");
      for (const std::string& k : keysOf("key/")) {
        if (model_[k].value("consumer", "") == id) model_.erase(k);
      }
    }
    model_.erase(key);
  }

  bool serviceInUse(const std::string& key) {
    const std::string id = model_[key].value("id", "");
    for (const std::string& r : keysOf("route/")) {
      if (model_[r].value("service", "") == id) return true;
    }
    return false;
  }

  Write next() {
    const std::string stamp = fresh("stamp");
    const json tags = {stamp};
    const auto services = keysOf("service/");
    const auto routes = keysOf("route/");
    const auto consumers = keysOf("consumer/");
    const auto policies = keysOf("policy/");
    const auto keys = keysOf("key/");
    for (;;) {
      switch (number(0, 13)) {
        case 0: {
          const std::string name = fresh("svc");
          return {"POST",
                  "/services",
                  {{"name", name},
                   {"targets",
                    {{{"url", "http://127.0.0.1:" + std::to_string(number(1000, 60000))},
                      {"weight", number(0, 1000)}}}},
                   {"retries", number(0, 10)},
                   {"connect_timeout_ms", number(1, 600000)},
                   {"tags", tags}},
                  "service/" + name,
                  false,
                  stamp,
                  "create"};
        }
        case 1:
          if (services.empty()) continue;
          {
            const std::string key = pick(services);
            return {"PATCH",
                    "/services/" + nameOf(key),
                    {{"retries", number(0, 10)},
                     {"read_timeout_ms", number(1, 3600000)},
                     {"load_balancing", "least_connections"},
                     {"tags", tags}},
                    key,
                    false,
                    stamp,
                    "update"};
          }
        case 2:
          if (services.empty()) continue;
          {
            const std::string key = pick(services);
            return {"PUT",
                    "/services/" + nameOf(key),
                    {{"name", nameOf(key)},
                     {"targets",
                      {{{"url", "http://10.0.0." + std::to_string(number(1, 254)) + ":8080"},
                        {"weight", 100}},
                       {{"url", "http://svc-" + std::to_string(number(1, 99)) + ".internal"},
                        {"weight", number(1, 1000)}}}},
                     {"health_check",
                      {{"path", "/healthz"},
                       {"interval_ms", number(100, 10000)},
                       {"unhealthy_after", 3},
                       {"healthy_after", 2}}},
                     {"tags", tags}},
                    key,
                    false,
                    stamp,
                    "update"};
          }
        case 3:
          if (services.empty()) continue;
          {
            const std::string key = pick(services);
            if (serviceInUse(key)) continue;
            return {"DELETE", "/services/" + nameOf(key), nullptr, key, true, "", "delete"};
          }
        case 4:
        case 5:
          if (services.empty()) continue;
          {
            const std::string name = fresh("route");
            return {"POST",
                    "/routes",
                    {{"name", name},
                     {"service", model_[pick(services)]["id"]},
                     {"paths", {"/" + name, "/" + name + "/{id}/items"}},
                     {"methods", {"GET", "POST"}},
                     {"priority", number(-100, 100)},
                     {"tags", tags}},
                    "route/" + name,
                    false,
                    stamp,
                    "create"};
          }
        case 6:
          if (routes.empty()) continue;
          {
            const std::string key = pick(routes);
            return {"PATCH",
                    "/routes/" + nameOf(key),
                    {{"hosts", {"h" + std::to_string(number(1, 999)) + ".example.test"}},
                     {"strip_path", number(0, 1) == 1},
                     {"tags", tags}},
                    key,
                    false,
                    stamp,
                    "update"};
          }
        case 7:
          if (routes.empty()) continue;
          {
            const std::string key = pick(routes);
            return {"DELETE", "/routes/" + nameOf(key), nullptr, key, true, "", "delete"};
          }
        case 8: {
          const std::string name = fresh("user");
          return {"POST",
                  "/consumers",
                  {{"username", name},
                   {"custom_id", "crm-" + std::to_string(number(1, 99999))},
                   {"groups", {"g" + std::to_string(number(1, 9))}},
                   {"tags", tags}},
                  "consumer/" + name,
                  false,
                  stamp,
                  "create"};
        }
        case 9:
          if (consumers.empty()) continue;
          if (number(0, 2) == 0) {
            const std::string key = pick(consumers);
            return {"DELETE", "/consumers/" + nameOf(key), nullptr, key, true, "", "delete"};
          } else {
            const std::string key = pick(consumers);
            return {"PATCH",
                    "/consumers/" + nameOf(key),
                    {{"groups", {"partners", "g" + std::to_string(number(10, 99))}},
                     {"custom_id", nullptr},
                     {"tags", tags}},
                    key,
                    false,
                    stamp,
                    "update"};
          }
        case 10:
        case 11:
          if (consumers.empty()) continue;
          if (keys.empty() || number(0, 2) != 0) {
            return {"POST",
                    "/consumers/" + nameOf(pick(consumers)) + "/keys",
                    {{"tags", tags}},
                    "key/?",
                    false,
                    stamp,
                    "create"};
          } else {
            const std::string key = pick(keys);
            std::string owner;
            for (const std::string& c : consumers) {
              if (model_[c]["id"] == model_[key]["consumer"]) owner = model_[c]["id"];
            }
            return {
                "DELETE", "/consumers/" + owner + "/keys/" + nameOf(key), nullptr, key, true, "",
                "delete"};
          }
        case 12: {
          const std::string name = fresh("policy");
          return {"POST",
                  "/rate-limit-policies",
                  {{"name", name},
                   {"limit", number(1, 100000)},
                   {"window_s", number(1, 86400)},
                   {"key_by", "header:x-tenant"},
                   {"tags", tags}},
                  "policy/" + name,
                  false,
                  stamp,
                  "create"};
        }
        case 13:
          if (policies.empty()) continue;
          if (number(0, 1) == 0) {
            const std::string key = pick(policies);
            return {"DELETE", "/rate-limit-policies/" + nameOf(key), nullptr, key, true, "",
                    "delete"};
          } else {
            const std::string key = pick(policies);
            return {"PATCH",
                    "/rate-limit-policies/" + nameOf(key),
                    {{"limit", number(1, 100000)},
                     {"algorithm", "token_bucket"},
                     {"burst", number(0, 50)},
                     {"tags", tags}},
                    key,
                    false,
                    stamp,
                    "update"};
          }
      }
    }
  }

  Model model_;
  std::mt19937 rng_;
  int* counter_;
  std::optional<Write> in_flight_;
  std::vector<Acknowledged> acknowledged_;
  std::string error_;
};

// The server's configuration (GET /config) as a Model, keys as the creation answer would show
// them minus the key itself (and with its hash).
Model actualModel(const json& config) {
  Model out;
  for (const json& s : config["services"]) out["service/" + s["name"].get<std::string>()] = s;
  for (const json& r : config["routes"]) out["route/" + r["name"].get<std::string>()] = r;
  for (const json& c : config["consumers"]) out["consumer/" + c["username"].get<std::string>()] = c;
  for (const json& p : config["rate_limit_policies"]) {
    out["policy/" + p["name"].get<std::string>()] = p;
  }
  for (const json& k : config["api_keys"]) out["key/" + k["id"].get<std::string>()] = k;
  return out;
}

bool hasTag(const json& entity, const std::string& tag) {
  if (!entity.is_object() || !entity.contains("tags")) return false;
  for (const json& t : entity["tags"]) {
    if (t == tag) return true;
  }
  return false;
}

// Whether the expected entity (as acknowledged) and the stored one agree.
::testing::AssertionResult sameEntity(const std::string& key, const json& expected,
                                      const json& actual) {
  if (key.rfind("key/", 0) == 0 && !expected.contains("key_hash")) {
    // The store keeps the key's hash, never the key.
    const std::string plain = expected.value("key", "");
    if (actual.value("key_hash", "") != sha256Hex(plain)) {
      return ::testing::AssertionFailure() << key << ": the stored hash is not the key's";
    }
    if (without(expected, {"key"}) != without(actual, {"key_hash"})) {
      return ::testing::AssertionFailure()
             << key << ": acknowledged " << expected.dump() << "\nstored " << actual.dump();
    }
    return ::testing::AssertionSuccess();
  }
  if (expected != actual) {
    return ::testing::AssertionFailure()
           << key << ": acknowledged " << expected.dump() << "\nstored " << actual.dump();
  }
  return ::testing::AssertionSuccess();
}

// Every field the write sent has the value it sent (JSON merge patch: null removes).
::testing::AssertionResult wholeWriteApplied(const Write& w, const json& actual) {
  if (!w.body.is_object()) return ::testing::AssertionSuccess();
  for (const auto& [field, value] : w.body.items()) {
    const json got = actual.contains(field) ? actual[field] : json();
    if (got != value) {
      return ::testing::AssertionFailure()
             << "half-applied write " << w.describe() << ": field " << field << " is " << got.dump()
             << "\nstored " << actual.dump();
    }
  }
  return ::testing::AssertionSuccess();
}

// All versions, newest first, from GET /config/history (every page).
std::vector<json> fullHistory(HttpClient& admin) {
  std::vector<json> entries;
  std::string target = "/config/history?size=1000";
  for (int page = 0; page < 100; ++page) {
    Response r = admin.get(target);
    EXPECT_EQ(r.status, 200) << r;
    const json body = r.json();
    if (r.status != 200 || !body.is_object()) break;
    for (const json& e : body["data"]) entries.push_back(e);
    if (!body["next"].is_string()) break;
    target = "/config/history?size=1000&after=" + body["next"].get<std::string>();
  }
  return entries;
}

TEST(AdminKillDurabilityTest, AcknowledgedWritesSurviveSigkillAtRandomMoments) {
  uint32_t seed = static_cast<uint32_t>(std::random_device{}());
  if (const char* given = std::getenv("TURNPIKE_KILL_SEED")) seed = std::stoul(given);
  std::printf("TURNPIKE_KILL_SEED=%u\n", seed);
  RecordProperty("seed", std::to_string(seed));
  SCOPED_TRACE("TURNPIKE_KILL_SEED=" + std::to_string(seed));
  std::mt19937 rng(seed);

  TurnpikeProcess tp;
  ASSERT_TRUE(tp.start());
  Model model;
  int counter = 0;
  int64_t last_version = 0;
  std::map<int64_t, Acknowledged> acknowledged;  // by version, over all cycles
  int writes = 0, in_flight_applied = 0;
  const auto started = Clock::now();

  int cycles = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    if (cycle >= kMinCycles && Clock::now() - started > kTimeBudget) break;
    ++cycles;
    SCOPED_TRACE("cycle " + std::to_string(cycle));
    Writer writer(model, static_cast<uint32_t>(rng()), &counter);
    const int delay_ms = std::uniform_int_distribution<int>(0, kMaxKillDelayMs)(rng);
    {
      HttpClient client = tp.adminClient();
      std::thread writing([&] { writer.run(client); });
      std::this_thread::sleep_for(milliseconds(delay_ms));
      tp.kill9();
      writing.join();
    }
    ASSERT_EQ(writer.error(), "");
    writes += static_cast<int>(writer.acknowledged().size());
    for (const Acknowledged& a : writer.acknowledged()) {
      ASSERT_GT(a.version, last_version)
          << "versions of acknowledged writes must increase: " << a.what;
      last_version = a.version;
      acknowledged[a.version] = a;
    }
    EXPECT_EQ(integrityCheckAfterCrash(tp.dbPath(), tp.dir()), "ok")
        << "after a kill " << delay_ms << " ms into the burst";

    ASSERT_TRUE(tp.restart());
    HttpClient admin = tp.adminClient();
    Response config_response = admin.get("/config");
    ASSERT_EQ(config_response.status, 200) << config_response;
    const json config = config_response.json();
    Model actual = actualModel(config);
    Model& expected = writer.model();

    // The write in flight at the kill: applied whole, or not at all. Decide which from the
    // stored entity, then hold the rest of the state to that.
    bool applied = false;
    if (const auto& w = writer.inFlight()) {
      SCOPED_TRACE("in flight: " + w->describe());
      if (w->erase) {
        applied = !actual.contains(w->key);
        if (applied) {
          if (w->key.rfind("consumer/", 0) == 0) {
            const std::string id = expected[w->key].value("id", "");
            for (auto it = expected.begin(); it != expected.end();) {
              if (it->first.rfind("key/", 0) == 0 && it->second.value("consumer", "") == id) {
                it = expected.erase(it);
              } else {
                ++it;
              }
            }
          }
          expected.erase(w->key);
        }
      } else {
        std::string key = w->key;
        if (key == "key/?") {
          for (const auto& [k, v] : actual) {
            if (k.rfind("key/", 0) == 0 && hasTag(v, w->stamp)) key = k;
          }
        }
        if (actual.contains(key) && hasTag(actual[key], w->stamp)) {
          applied = true;
          EXPECT_TRUE(wholeWriteApplied(*w, actual[key]));
          // From now on held to what is stored (a key made so was never shown: its hash).
          expected[key] = actual[key];
        }
      }
      in_flight_applied += applied ? 1 : 0;
    }

    // Everything else is exactly as acknowledged: nothing lost, nothing extra.
    for (const auto& [key, value] : expected) {
      if (!actual.contains(key)) {
        ADD_FAILURE() << "acknowledged " << key << " is missing after the crash: " << value.dump();
        continue;
      }
      EXPECT_TRUE(sameEntity(key, value, actual[key]));
    }
    for (const auto& [key, value] : actual) {
      EXPECT_TRUE(expected.contains(key))
          << key << " is stored but was deleted, or never acknowledged: " << value.dump();
    }

    // The version: the last acknowledged one, plus one when the write in flight made it.
    const int64_t version = config.value("version", int64_t{-1});
    EXPECT_EQ(version, last_version + (applied ? 1 : 0))
        << "the write in flight was " << (applied ? "" : "not ") << "applied";
    EXPECT_EQ(admin.get("/status").json().value("config_version", int64_t{-2}), version);

    // The history: one entry per version, none missing, newest first; each acknowledged
    // write's version holds its action.
    // Version 0 (killed before the first write committed) has no history at all.
    const std::vector<json> history = fullHistory(admin);
    ASSERT_EQ(history.empty(), version == 0) << "version " << version;
    if (!history.empty()) {
      EXPECT_EQ(history.front().value("version", int64_t{-1}), version);
      EXPECT_EQ(history.back().value("version", int64_t{-1}), 1);
    }
    std::map<int64_t, std::string> actions;
    for (size_t i = 0; i < history.size(); ++i) {
      const int64_t v = history[i].value("version", int64_t{-1});
      actions[v] = history[i].value("action", "");
      if (i > 0) {
        EXPECT_EQ(v, history[i - 1].value("version", int64_t{-1}) - 1)
            << "the history must have no gaps or repeats";
      }
    }
    for (const auto& [v, a] : acknowledged) {
      ASSERT_TRUE(actions.contains(v))
          << "version " << v << " of " << a.what << " is not in the history";
      EXPECT_EQ(actions[v], a.action) << "version " << v << ": " << a.what;
    }
    if (applied) {
      last_version = version;
      acknowledged[version] = {version, writer.inFlight()->action, writer.inFlight()->describe()};
      EXPECT_EQ(actions[version], writer.inFlight()->action);
    }
    model = std::move(expected);
    if (HasFailure()) break;
  }
  std::printf(
      "%d cycles, %d acknowledged writes, %d in-flight writes applied, %zu entities, %lld ms\n",
      cycles, writes, in_flight_applied, model.size(),
      static_cast<long long>(
          std::chrono::duration_cast<milliseconds>(Clock::now() - started).count()));
  EXPECT_GT(writes, 0) << "the bursts should have written something before the kills";

  // A clean stop, then the file itself.
  tp.stop();
  EXPECT_TRUE(tp.exitedCleanly()) << "wait status " << tp.lastWaitStatus() << "\n"
                                  << tp.stderrText();
  EXPECT_EQ(integrityCheck(tp.dbPath(), /*read_only=*/true), "ok");
}

// Bad input of every kind, for every entity kind, beyond what admin_errors_test.cc covers: the
// answer is a 4xx problem+json naming the field at fault, and nothing is written (no new
// version, no new history entry, the configuration unchanged).
class AdminBadInputTest : public AdminSuiteTest {};

struct BadInput {
  std::string what;
  std::string method;
  std::string target;
  std::string body;
  int status;         // 400, 404, 413
  std::string field;  // the field errors[] must name; "" when the error is not about a field
};

TEST_F(AdminBadInputTest, EveryKindOfBadInputIs4xxNamingTheFieldAndWritesNothing) {
  const json service = mustCreate("/services", serviceBody(uniqueName("bad-svc")));
  const json consumer = mustCreate("/consumers", consumerBody(uniqueName("bad-user")));
  const json policy = mustCreate("/rate-limit-policies", policyBody(uniqueName("bad-pol")));
  ASSERT_TRUE(service.is_object() && consumer.is_object() && policy.is_object());
  const std::string svc = service["name"];
  const json route = mustCreate("/routes", routeBody(uniqueName("bad-route"), svc));
  ASSERT_TRUE(route.is_object());
  const std::string svc_item = "/services/" + svc;
  const std::string route_item = "/routes/" + route["name"].get<std::string>();
  const std::string user_item = "/consumers/" + consumer["username"].get<std::string>();
  const std::string policy_item = "/rate-limit-policies/" + policy["name"].get<std::string>();
  const std::string keys = user_item + "/keys";

  // Valid bodies of each kind, with one field changed (null: removed).
  auto svcWith = [&](const std::string& field, const json& value) {
    json body = serviceBody(uniqueName("bad"));
    if (value.is_null())
      body.erase(field);
    else
      body[field] = value;
    return body.dump();
  };
  auto targetWith = [&](const json& target) {
    json body = serviceBody(uniqueName("bad"));
    body["targets"] = json::array({target});
    return body.dump();
  };
  auto routeWith = [&](const std::string& field, const json& value) {
    json body = routeBody(uniqueName("bad"), svc);
    if (value.is_null())
      body.erase(field);
    else
      body[field] = value;
    return body.dump();
  };
  auto userWith = [&](const std::string& field, const json& value) {
    json body = consumerBody(uniqueName("bad"));
    if (value.is_null())
      body.erase(field);
    else
      body[field] = value;
    return body.dump();
  };
  auto policyWith = [&](const std::string& field, const json& value) {
    json body = policyBody(uniqueName("bad"));
    if (value.is_null())
      body.erase(field);
    else
      body[field] = value;
    return body.dump();
  };
  const json health = {{"path", "/healthz"}, {"interval_ms", 1000}};
  auto healthWith = [&](const std::string& field, const json& value) {
    json h = health;
    h[field] = value;
    return svcWith("health_check", h);
  };
  std::string oversized = routeBody(uniqueName("big"), svc).dump();
  oversized.append(kMiB + 1 - oversized.size(), ' ');
  json thirty_three_tags = json::array();
  for (int i = 0; i < 33; ++i) thirty_three_tags.push_back("t" + std::to_string(i));

  const std::vector<BadInput> cases = {
      // Services.
      {"name of the wrong type", "POST", "/services", svcWith("name", 42), 400, "name"},
      {"name with a space", "POST", "/services", svcWith("name", "a b"), 400, "name"},
      {"name that is a UUID", "POST", "/services", svcWith("name", randomUuid()), 400, "name"},
      {"name of 129 characters", "POST", "/services", svcWith("name", std::string(129, 'n')), 400,
       "name"},
      {"id that is not a UUID", "POST", "/services", svcWith("id", "not-a-uuid"), 400, "id"},
      {"targets not an array", "POST", "/services", svcWith("targets", "http://127.0.0.1:9"), 400,
       "targets"},
      {"targets missing", "POST", "/services", svcWith("targets", nullptr), 400, "targets"},
      {"target not an object", "POST", "/services", targetWith("http://127.0.0.1:9"), 400,
       "targets[0]"},
      {"target without url", "POST", "/services", targetWith({{"weight", 5}}), 400,
       "targets[0].url"},
      {"ftp target", "POST", "/services", targetWith({{"url", "ftp://127.0.0.1:9"}}), 400,
       "targets[0].url"},
      {"tls.ca that is not PEM", "POST", "/services", svcWith("tls", {{"ca", "not a certificate"}}),
       400, "tls.ca"},
      {"target with a path", "POST", "/services", targetWith({{"url", "http://a.test/x"}}), 400,
       "targets[0].url"},
      {"target port out of range", "POST", "/services",
       targetWith({{"url", "http://127.0.0.1:70000"}}), 400, "targets[0].url"},
      {"target with userinfo", "POST", "/services", targetWith({{"url", "http://u@a.test"}}), 400,
       "targets[0].url"},
      {"negative weight", "POST", "/services",
       targetWith({{"url", "http://127.0.0.1:9"}, {"weight", -1}}), 400, "targets[0].weight"},
      {"fractional weight", "POST", "/services",
       targetWith({{"url", "http://127.0.0.1:9"}, {"weight", 1.5}}), 400, "targets[0].weight"},
      {"duplicate target", "POST", "/services",
       svcWith("targets", {{{"url", "http://127.0.0.1:9"}}, {{"url", "http://127.0.0.1:9/"}}}), 400,
       "targets[1].url"},
      {"unknown load_balancing", "POST", "/services", svcWith("load_balancing", "random"), 400,
       "load_balancing"},
      {"hash_on without consistent_hash", "POST", "/services", svcWith("hash_on", "ip"), 400,
       "hash_on"},
      {"connect_timeout_ms zero", "POST", "/services", svcWith("connect_timeout_ms", 0), 400,
       "connect_timeout_ms"},
      {"connect_timeout_ms too large", "POST", "/services", svcWith("connect_timeout_ms", 600001),
       400, "connect_timeout_ms"},
      {"read_timeout_ms a string", "POST", "/services", svcWith("read_timeout_ms", "fast"), 400,
       "read_timeout_ms"},
      {"read_timeout_ms beyond int64", "POST", "/services", svcWith("read_timeout_ms", 1e30), 400,
       "read_timeout_ms"},
      {"retries negative", "POST", "/services", svcWith("retries", -1), 400, "retries"},
      {"retries too many", "POST", "/services", svcWith("retries", 11), 400, "retries"},
      {"health_check not an object", "POST", "/services", svcWith("health_check", true), 400,
       "health_check"},
      {"health_check path without slash", "POST", "/services", healthWith("path", "healthz"), 400,
       "health_check.path"},
      {"health_check interval too short", "POST", "/services", healthWith("interval_ms", 10), 400,
       "health_check.interval_ms"},
      {"health_check threshold zero", "POST", "/services", healthWith("unhealthy_after", 0), 400,
       "health_check.unhealthy_after"},
      {"health_check unknown field", "POST", "/services", healthWith("timeout_ms", 5), 400,
       "health_check.timeout_ms"},
      {"tags not an array", "POST", "/services", svcWith("tags", "a"), 400, "tags"},
      {"tag with a comma", "POST", "/services", svcWith("tags", {"a,b"}), 400, "tags[0]"},
      {"empty tag", "POST", "/services", svcWith("tags", {""}), 400, "tags[0]"},
      {"duplicate tag", "POST", "/services", svcWith("tags", {"a", "a"}), 400, "tags[1]"},
      {"33 tags", "POST", "/services", svcWith("tags", thirty_three_tags), 400, "tags"},
      {"negative created_at", "POST", "/services", svcWith("created_at", -5), 400, "created_at"},
      {"PUT with a bad field", "PUT", svc_item,
       json({{"targets", {{{"url", "ftp://x"}}}}, {"retries", "x"}}).dump(), 400, "retries"},
      {"PATCH making retries invalid", "PATCH", svc_item, R"({"retries": 99})", 400, "retries"},
      {"PATCH removing the targets", "PATCH", svc_item, R"({"targets": null})", 400, "targets"},
      {"PATCH to consistent_hash without hash_on", "PATCH", svc_item,
       R"({"load_balancing": "consistent_hash"})", 400, "hash_on"},
      // Routes.
      {"route bad JSON", "POST", "/routes", "{\"name\": ", 400, ""},
      {"route body an array", "POST", "/routes", "[]", 400, ""},
      {"route without service", "POST", "/routes", routeWith("service", nullptr), 400, "service"},
      {"route service of the wrong type", "POST", "/routes", routeWith("service", 7), 400,
       "service"},
      {"route referencing a missing service by id", "PATCH", route_item,
       json({{"service", randomUuid()}}).dump(), 400, "service"},
      {"hosts not an array", "POST", "/routes", routeWith("hosts", "a.test"), 400, "hosts"},
      {"host that is a URL", "POST", "/routes", routeWith("hosts", {"http://a.test"}), 400,
       "hosts[0]"},
      {"wildcard over an IP", "POST", "/routes", routeWith("hosts", {"*.10.0.0.1"}), 400,
       "hosts[0]"},
      {"host port out of range", "POST", "/routes", routeWith("hosts", {"a.test:99999"}), 400,
       "hosts[0]"},
      {"path with an empty parameter", "POST", "/routes", routeWith("paths", {"/a/{}"}), 400,
       "paths[0]"},
      {"path with a repeated parameter", "POST", "/routes", routeWith("paths", {"/a/{x}/{x}"}), 400,
       "paths[0]"},
      {"path with a query", "POST", "/routes", routeWith("paths", {"/a", "/b?c=d"}), 400,
       "paths[1]"},
      {"path of the wrong type", "POST", "/routes", routeWith("paths", {1}), 400, "paths[0]"},
      {"duplicate path", "POST", "/routes", routeWith("paths", {"/a", "/a"}), 400, "paths[1]"},
      {"method with a digit", "POST", "/routes", routeWith("methods", {"G3T"}), 400, "methods[0]"},
      {"duplicate method", "POST", "/routes", routeWith("methods", {"GET", "get"}), 400,
       "methods[1]"},
      {"headers not an object", "POST", "/routes", routeWith("headers", {"x-a"}), 400, "headers"},
      {"headers matching host", "POST", "/routes", routeWith("headers", {{"host", "a"}}), 400,
       "headers.host"},
      {"header with no values", "POST", "/routes", routeWith("headers", {{"x-a", json::array()}}),
       400, "headers.x-a"},
      {"header value a number", "POST", "/routes", routeWith("headers", {{"x-a", 5}}), 400,
       "headers.x-a"},
      {"strip_path a string", "POST", "/routes", routeWith("strip_path", "yes"), 400, "strip_path"},
      {"priority out of range", "POST", "/routes", routeWith("priority", 10000001), 400,
       "priority"},
      {"unknown auth type", "POST", "/routes", routeWith("auth", {{"type", "basic"}}), 400,
       "auth.type"},
      {"api_key auth without key names", "POST", "/routes",
       routeWith("auth", {{"type", "api_key"}, {"key_names", json::array()}}), 400,
       "auth.key_names"},
      {"auth unknown field", "POST", "/routes",
       routeWith("auth", {{"type", "none"}, {"realm", "x"}}), 400, "auth.realm"},
      {"bad group name", "POST", "/routes", routeWith("allow_groups", {"not ok!"}), 400,
       "allow_groups[0]"},
      {"route unknown field", "POST", "/routes", routeWith("weight", 1), 400, "weight"},
      {"route policy missing by id", "POST", "/routes",
       routeWith("rate_limit_policies", {randomUuid()}), 400, "rate_limit_policies[0]"},
      {"PATCH making a path invalid", "PATCH", route_item, R"({"paths": ["~/v[0-9"]})", 400,
       "paths[0]"},
      {"route body over 1 MiB", "POST", "/routes", oversized, 413, ""},
      // Consumers.
      {"consumer bad JSON", "POST", "/consumers", "{\"username\": \"x\"", 400, ""},
      {"consumer without username", "POST", "/consumers", userWith("username", nullptr), 400,
       "username"},
      {"username with a space", "POST", "/consumers", userWith("username", "a b"), 400, "username"},
      {"username of the wrong type", "POST", "/consumers", userWith("username", json::array()), 400,
       "username"},
      {"empty custom_id", "POST", "/consumers", userWith("custom_id", ""), 400, "custom_id"},
      {"custom_id of 257 characters", "POST", "/consumers",
       userWith("custom_id", std::string(257, 'c')), 400, "custom_id"},
      {"custom_id with a control character", "POST", "/consumers", userWith("custom_id", "a\x01"),
       400, "custom_id"},
      {"groups not an array", "POST", "/consumers", userWith("groups", "partners"), 400, "groups"},
      {"bad group", "POST", "/consumers", userWith("groups", {"ok", "not ok"}), 400, "groups[1]"},
      {"PATCH making groups invalid", "PATCH", user_item, R"({"groups": [1]})", 400, "groups[0]"},
      {"consumer body over 1 MiB", "PATCH", user_item,
       R"({"custom_id": ")" + std::string(kMiB, 'x') + "\"}", 413, ""},
      // API keys.
      {"key bad JSON", "POST", keys, "{", 400, ""},
      {"key body an array", "POST", keys, "[]", 400, ""},
      {"key too short", "POST", keys, R"({"key": "short"})", 400, "key"},
      {"key with a space", "POST", keys, R"({"key": "tpk_with a space in it 123"})", 400, "key"},
      {"key of the wrong type", "POST", keys, R"({"key": 12345678901234567890123})", 400, "key"},
      {"expires_at zero", "POST", keys, R"({"expires_at": 0})", 400, "expires_at"},
      {"expires_at in the past", "POST", keys, R"({"expires_at": 1000})", 400, "expires_at"},
      {"expires_at a string", "POST", keys, R"({"expires_at": "tomorrow"})", 400, "expires_at"},
      {"key unknown field", "POST", keys, R"({"name": "mine"})", 400, "name"},
      {"key id not a UUID", "POST", keys, R"({"id": "k1"})", 400, "id"},
      {"key bad tag", "POST", keys, R"({"tags": ["a,b"]})", 400, "tags[0]"},
      {"key body over 1 MiB", "POST", keys, R"({"tags": [")" + std::string(kMiB, 't') + "\"]}", 413,
       ""},
      // Rate-limit policies.
      {"policy bad JSON", "POST", "/rate-limit-policies", "{\"limit\": 1,}", 400, ""},
      {"policy without name", "POST", "/rate-limit-policies", policyWith("name", nullptr), 400,
       "name"},
      {"policy without limit", "POST", "/rate-limit-policies", policyWith("limit", nullptr), 400,
       "limit"},
      {"limit a string", "POST", "/rate-limit-policies", policyWith("limit", "ten"), 400, "limit"},
      {"limit beyond the maximum", "POST", "/rate-limit-policies",
       policyWith("limit", 1000000000001), 400, "limit"},
      {"window_s zero", "POST", "/rate-limit-policies", policyWith("window_s", 0), 400, "window_s"},
      {"window_s over a day", "POST", "/rate-limit-policies", policyWith("window_s", 86401), 400,
       "window_s"},
      {"burst without token_bucket", "POST", "/rate-limit-policies", policyWith("burst", 5), 400,
       "burst"},
      {"negative burst", "POST", "/rate-limit-policies", policyWith("burst", -1), 400, "burst"},
      {"unknown key_by", "POST", "/rate-limit-policies", policyWith("key_by", "user"), 400,
       "key_by"},
      {"key_by header without a name", "POST", "/rate-limit-policies",
       policyWith("key_by", "header:"), 400, "key_by"},
      {"policy unknown field", "POST", "/rate-limit-policies", policyWith("per", "minute"), 400,
       "per"},
      {"PATCH making the limit invalid", "PATCH", policy_item, R"({"limit": -3})", 400, "limit"},
      // The whole configuration at once: errors name the entry.
      {"config with a bad service", "PUT", "/config",
       R"({"services": [{"name": "x", "targets": []}]})", 400, "services[0].targets"},
      {"config with a route to nowhere", "PUT", "/config",
       json({{"routes", {json::parse(routeWith("service", "nowhere"))}}}).dump(), 400,
       "routes[0].service"},
      {"config collection not an array", "PUT", "/config", R"({"consumers": {}})", 400,
       "consumers"},
  };

  const int64_t version = storedVersion();
  const json history = mustGet("/config/history?size=1");
  const json config = mustGet("/config");
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.what + ": " + c.method + " " + c.target + " " + c.body.substr(0, 300));
    Response r = admin().request(c.method, c.target, c.body);
    EXPECT_TRUE(isProblem(r, c.status));
    if (!c.field.empty()) {
      EXPECT_TRUE(namesField(r, c.field));
    }
    if (const std::string* header = r.header("X-Config-Version")) {
      EXPECT_EQ(*header, std::to_string(version)) << "a refused write reported a new version";
    }
    EXPECT_EQ(storedVersion(), version) << "a refused write made a new version";
  }
  EXPECT_EQ(mustGet("/config/history?size=1"), history);
  EXPECT_EQ(mustGet("/config"), config);
}

}  // namespace
}  // namespace turnpike::test_support
