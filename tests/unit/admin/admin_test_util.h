// Shared by the admin unit tests: a ConfigStore on a temporary file and an AdminApi over it,
// called directly (no socket) with small request builders.
#pragma once

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "admin/admin_api.h"
#include "admin/admin_auth.h"
#include "model/api_key.h"
#include "storage/config_store.h"

namespace turnpike::admin::testing {

inline constexpr char kToken[] = "test-admin-token-0123456789";
inline constexpr size_t kOneMiB = 1024 * 1024;  // API.md: bodies over 1 MiB are 413

class TempDir {
 public:
  TempDir() {
    std::string templ = (std::filesystem::temp_directory_path() / "turnpike-admin-XXXXXX");
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

inline std::unique_ptr<storage::ConfigStore> openStore(const std::string& path) {
  auto store = storage::ConfigStore::open(path, nullptr);
  if (!store) {
    ADD_FAILURE() << "cannot open store: " << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

// "/services?size=2&tags=a" -> path and query (no decoding: tests write plain values).
inline HttpRequest makeRequest(std::string method, const std::string& target, std::string body,
                               std::map<std::string, std::string> headers) {
  HttpRequest request;
  request.method = std::move(method);
  size_t q = target.find('?');
  request.path = target.substr(0, q);
  if (q != std::string::npos) {
    std::string query = target.substr(q + 1);
    size_t start = 0;
    while (start < query.size()) {
      size_t amp = query.find('&', start);
      if (amp == std::string::npos) amp = query.size();
      std::string pair = query.substr(start, amp - start);
      size_t eq = pair.find('=');
      if (eq == std::string::npos) {
        request.query[pair] = "";
      } else {
        request.query[pair.substr(0, eq)] = pair.substr(eq + 1);
      }
      start = amp + 1;
    }
  }
  request.headers = std::move(headers);
  request.body = std::move(body);
  request.peer = "127.0.0.1:40000";
  return request;
}

inline nlohmann::json jsonOf(const HttpResponse& response) {
  try {
    return nlohmann::json::parse(response.body);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "response body is not JSON: " << e.what() << "\n" << response.body;
    return nullptr;
  }
}

// True when the problem's "errors" name `field`.
inline bool namesField(const HttpResponse& response, const std::string& field) {
  nlohmann::json body = jsonOf(response);
  if (!body.is_object() || !body.contains("errors")) return false;
  for (const auto& error : body["errors"]) {
    if (error.value("field", "") == field) return true;
  }
  return false;
}

inline std::string headerOr(const HttpResponse& response, const std::string& name,
                            const std::string& fallback = "") {
  const std::string* value = response.header(name);
  return value ? *value : fallback;
}

// A store on a temporary file and an AdminApi whose token is kToken.
class ApiFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    spdlog::set_level(spdlog::level::warn);  // the API logs every write at info
    store_ = openStore(dir_.file("turnpike.db"));
    ASSERT_NE(store_, nullptr);
    api_ = std::make_unique<AdminApi>(*store_, AdminAuth(model::sha256Hex(kToken)), hooks_);
  }

  HttpResponse send(std::string method, const std::string& target, std::string body = "",
                    std::map<std::string, std::string> headers = {}) {
    headers.emplace("authorization", std::string("Bearer ") + kToken);
    return api_->handle(
        makeRequest(std::move(method), target, std::move(body), std::move(headers)));
  }
  HttpResponse sendJson(std::string method, const std::string& target, const nlohmann::json& body,
                        std::map<std::string, std::string> headers = {}) {
    headers.emplace("content-type", "application/json");
    return send(std::move(method), target, body.dump(), std::move(headers));
  }
  HttpResponse sendAnonymous(std::string method, const std::string& target) {
    return api_->handle(makeRequest(std::move(method), target, "", {}));
  }

  // Creates through the API and returns the created entity; fails the test otherwise.
  nlohmann::json create(const std::string& collection, const nlohmann::json& body) {
    HttpResponse response = sendJson("POST", collection, body);
    EXPECT_EQ(response.status, 201) << response.body;
    return jsonOf(response);
  }
  nlohmann::json createService(const std::string& name,
                               nlohmann::json tags = nlohmann::json::array()) {
    return create("/services", {{"name", name},
                                {"targets", {{{"url", "http://10.0.0.5:8080"}}}},
                                {"tags", std::move(tags)}});
  }

  TempDir dir_;
  ProxyHooks hooks_;
  std::unique_ptr<storage::ConfigStore> store_;
  std::unique_ptr<AdminApi> api_;
};

}  // namespace turnpike::admin::testing
