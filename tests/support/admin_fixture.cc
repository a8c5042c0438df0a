#include "tests/support/admin_fixture.h"

#include <atomic>
#include <cstdio>

namespace turnpike::test_support {
namespace {

std::string tailOf(const std::string& text, size_t max = 3000) {
  return text.size() > max ? "..." + text.substr(text.size() - max) : text;
}

}  // namespace

void AdminSuiteTest::SetUpTestSuite() { startSuite({}); }

void AdminSuiteTest::startSuite(ProcessOptions options) {
  start_error_.clear();
  process_ = std::make_unique<TurnpikeProcess>(std::move(options));
  if (auto started = process_->start(); !started) start_error_ = started.message();
}

void AdminSuiteTest::TearDownTestSuite() { process_.reset(); }

void AdminSuiteTest::SetUp() {
  ASSERT_TRUE(process_ != nullptr);
  ASSERT_TRUE(start_error_.empty()) << "turnpike did not start: " << start_error_;
  if (!process_->running()) {
    // An earlier test killed it (and failed for it); this one gets a fresh process.
    auto restarted = process_->restart();
    ASSERT_TRUE(restarted) << "turnpike did not restart: " << restarted.message();
  }
  admin_.emplace(process_->adminClient());
}

void AdminSuiteTest::TearDown() {
  admin_.reset();
  if (process_ && start_error_.empty() && !process_->running()) {
    ADD_FAILURE() << "turnpike exited during this test ("
                  << (process_->exitedCleanly() ? "status 0" : "crash or error exit")
                  << ", wait status " << process_->lastWaitStatus() << ")\n--- stderr:\n"
                  << tailOf(process_->stderrText());
  }
}

int64_t AdminSuiteTest::storedVersion() {
  Response r = admin().get("/status");
  nlohmann::json body = r.json();
  if (r.status != 200 || !body.is_object() || !body.contains("config_version") ||
      !body["config_version"].is_number_integer()) {
    ADD_FAILURE() << "GET /status has no integer config_version:\n" << r;
    return -1;
  }
  return body["config_version"].get<int64_t>();
}

nlohmann::json AdminSuiteTest::mustCreate(std::string_view collection, const nlohmann::json& body) {
  Response r = admin().post(collection, body);
  if (r.status != 201) {
    ADD_FAILURE() << "POST " << collection << " " << body.dump() << "\nexpected 201, got:\n" << r;
    return nullptr;
  }
  return r.json();
}

nlohmann::json AdminSuiteTest::mustGet(std::string_view target) {
  Response r = admin().get(target);
  if (r.status != 200) {
    ADD_FAILURE() << "GET " << target << "\nexpected 200, got:\n" << r;
    return nullptr;
  }
  return r.json();
}

std::string uniqueName(std::string_view prefix) {
  static std::atomic<int> counter{0};
  static const std::string run = randomToken().substr(5, 6);
  return std::string(prefix) + "-" + std::to_string(++counter) + "-" + run;
}

std::string randomUuid() {
  std::string hex = randomToken().substr(5);  // 32 hex digits
  hex[12] = '4';
  hex[16] = "89ab"[hex[16] % 4];
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" +
         hex.substr(16, 4) + "-" + hex.substr(20, 12);
}

nlohmann::json serviceBody(std::string_view name) {
  return {{"name", name}, {"targets", {{{"url", "http://127.0.0.1:9"}, {"weight", 100}}}}};
}

nlohmann::json routeBody(std::string_view name, std::string_view service) {
  return {{"name", name}, {"service", service}, {"paths", {"/" + std::string(name)}}};
}

nlohmann::json consumerBody(std::string_view username) { return {{"username", username}}; }

nlohmann::json policyBody(std::string_view name) {
  return {{"name", name}, {"limit", 100}, {"window_s", 60}};
}

::testing::AssertionResult isProblem(const Response& r, int status) {
  auto fail = [&]() {
    return ::testing::AssertionFailure() << "expected a " << status << " problem+json, got:\n"
                                         << r << "\n";
  };
  if (r.status != status) return fail() << "(wrong status)";
  if (r.headerOr("Content-Type").rfind("application/problem+json", 0) != 0) {
    return fail() << "(Content-Type is not application/problem+json)";
  }
  nlohmann::json body = r.json();
  if (!body.is_object()) return fail() << "(body is not a JSON object)";
  for (const char* key : {"type", "title", "detail"}) {
    if (!body.contains(key) || !body[key].is_string()) {
      return fail() << "(no string \"" << key << "\")";
    }
  }
  if (body["detail"].get<std::string>().empty()) return fail() << "(empty detail)";
  if (!body.contains("status") || body["status"] != status) {
    return fail() << "(\"status\" is not " << status << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult namesField(const Response& r, std::string_view field) {
  nlohmann::json body = r.json();
  if (body.is_object() && body.contains("errors") && body["errors"].is_array()) {
    for (const auto& e : body["errors"]) {
      if (e.is_object() && e.value("field", "") == field && e.contains("message") &&
          e["message"].is_string() && !e["message"].get<std::string>().empty()) {
        return ::testing::AssertionSuccess();
      }
    }
  }
  return ::testing::AssertionFailure()
         << "expected errors[] to name field \"" << field << "\", got:\n"
         << r;
}

::testing::AssertionResult hasConfigVersion(const Response& r, int64_t version) {
  const std::string* header = r.header("X-Config-Version");
  if (header == nullptr) {
    return ::testing::AssertionFailure() << "no X-Config-Version (expected " << version << "):\n"
                                         << r;
  }
  if (*header != std::to_string(version)) {
    return ::testing::AssertionFailure()
           << "X-Config-Version is " << *header << ", expected " << version << ":\n"
           << r;
  }
  return ::testing::AssertionSuccess();
}

nlohmann::json without(nlohmann::json json, std::initializer_list<const char*> keys) {
  if (json.is_object()) {
    for (const char* key : keys) json.erase(key);
  }
  return json;
}

}  // namespace turnpike::test_support
