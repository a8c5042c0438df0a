// Helpers shared by the storage tests: a temporary directory that removes itself, and valid
// entities built through the model's own parsers (the store reads them back the same way).
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/consumer.h"
#include "model/rate_limit_policy.h"
#include "model/result.h"
#include "model/route.h"
#include "model/service.h"

namespace turnpike::storage::testing {

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "turnpike-storage-XXXXXX");
    if (mkdtemp(templ.data()) == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline model::Service makeService(const std::string& name, std::vector<std::string> tags = {},
                                  const std::string& url = "http://10.0.0.5:8080") {
  auto r = model::parseService(
      {{"name", name}, {"targets", {{{"url", url}, {"weight", 100}}}}, {"tags", tags}});
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  return *r;
}

inline model::Route makeRoute(const std::string& name, const std::string& service,
                              std::vector<std::string> policies = {}) {
  nlohmann::json body = {{"service", service},
                         {"paths", {"/" + (name.empty() ? std::string("x") : name)}},
                         {"rate_limit_policies", policies}};
  if (!name.empty()) body["name"] = name;
  auto r = model::parseRoute(body);
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  return *r;
}

inline model::Consumer makeConsumer(const std::string& username,
                                    std::vector<std::string> policies = {}) {
  auto r = model::parseConsumer(
      {{"username", username}, {"groups", {"partners"}}, {"rate_limit_policies", policies}});
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  return *r;
}

inline model::RateLimitPolicy makePolicy(const std::string& name, int64_t limit = 100) {
  auto r = model::parseRateLimitPolicy({{"name", name}, {"limit", limit}, {"window_s", 60}});
  EXPECT_TRUE(r.ok()) << (r ? "" : r.error().message);
  return *r;
}

// The write failed with `code` and names `field` (exactly) with a message holding `message`.
template <class T>
::testing::AssertionResult namesStoreField(const model::Result<T>& r, model::ErrorCode code,
                                           const std::string& field,
                                           const std::string& message = "") {
  if (r.ok()) return ::testing::AssertionFailure() << "the write succeeded";
  if (r.error().code != code) {
    return ::testing::AssertionFailure() << "other error code: " << r.error().message;
  }
  for (const model::FieldError& e : r.error().fields) {
    if (e.field == field && e.message.find(message) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
  }
  std::string fields;
  for (const model::FieldError& e : r.error().fields) fields += e.field + ": " + e.message + "; ";
  return ::testing::AssertionFailure() << "no error on " << field << " (" << fields << ")";
}

}  // namespace turnpike::storage::testing
