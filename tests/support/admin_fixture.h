// AdminSuiteTest: a gtest fixture sharing one `turnpike serve` process per test suite, plus
// helpers that integration tests of the admin API have in common.
//
//   class ServicesTest : public AdminSuiteTest {};
//   TEST_F(ServicesTest, Creates) {
//     Response r = admin().post("/services", serviceBody(uniqueName("svc")));
//     EXPECT_EQ(r.status, 201) << r;
//   }
//
// Tests in a suite share the server (and its database), so each test makes its own uniquely
// named entities and never assumes the store is empty. A test during which the server dies
// fails, and the next test gets a restarted server on the same database.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/http_client.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {

class AdminSuiteTest : public ::testing::Test {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  // Starts the suite's process with `options`; SetUpTestSuite() uses the defaults. A derived
  // suite that needs other flags defines its own SetUpTestSuite() calling this.
  static void startSuite(ProcessOptions options);

  void SetUp() override;
  void TearDown() override;

  static TurnpikeProcess& process() { return *process_; }
  // A client with the admin token, made fresh for each test.
  HttpClient& admin() { return *admin_; }

  // GET /status -> config_version; -1 (and a test failure) when that fails.
  int64_t storedVersion();
  // POST `collection` (e.g. "/services"); expects 201 and returns the body (null on failure).
  nlohmann::json mustCreate(std::string_view collection, const nlohmann::json& body);
  // GET `target`; expects 200 and returns the body (null on failure).
  nlohmann::json mustGet(std::string_view target);

 private:
  inline static std::unique_ptr<TurnpikeProcess> process_;
  inline static std::string start_error_;
  std::optional<HttpClient> admin_;
};

// A name no other test uses: "<prefix>-<counter>-<random>".
std::string uniqueName(std::string_view prefix);

// A random version-4 UUID, lower case.
std::string randomUuid();

// Minimal valid bodies (API.md).
nlohmann::json serviceBody(std::string_view name);
nlohmann::json routeBody(std::string_view name, std::string_view service);
nlohmann::json consumerBody(std::string_view username);
nlohmann::json policyBody(std::string_view name);

// The response is RFC 9457 problem+json with this status: Content-Type
// application/problem+json and string "type", "title", "detail" and numeric "status" equal to
// the HTTP status.
::testing::AssertionResult isProblem(const Response& r, int status);
// The problem's `errors` holds an entry whose "field" is `field` (and a non-empty message).
::testing::AssertionResult namesField(const Response& r, std::string_view field);

// The response carries X-Config-Version equal to `version`.
::testing::AssertionResult hasConfigVersion(const Response& r, int64_t version);

// `json` without the given top-level keys (for comparisons that ignore e.g. updated_at).
nlohmann::json without(nlohmann::json json, std::initializer_list<const char*> keys);

}  // namespace turnpike::test_support
