// HttpClient: a small synchronous HTTP/1.1 client for tests, on Boost.Beast.
//
// Keeps one keep-alive connection to one host:port and reconnects when the server closed it
// (a request that fails before any response byte on a reused connection is retried once on a
// fresh one). Every operation is bounded by a timeout; a timeout or a connection failure comes
// back as status 0 with `error` set, never as an exception.
//
//   HttpClient client("127.0.0.1", port);
//   client.setBearer(token);
//   Response r = client.request("POST", "/services", R"({"name":"a","targets":[...]})");
//   EXPECT_EQ(r.status, 201) << r;
//   std::string id = r.json()["id"];
//
// Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace turnpike::test_support {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Response {
  int status = 0;   // 0 when no response arrived (see `error`)
  Headers headers;  // as received, in order
  std::string body;
  std::string error;  // transport failure, empty when a response arrived

  // Case-insensitive header lookup; the first value, or nullptr.
  const std::string* header(std::string_view name) const;
  // The header's value, or "" when absent.
  std::string headerOr(std::string_view name, std::string fallback = "") const;
  bool hasHeader(std::string_view name) const { return header(name) != nullptr; }
  // The body parsed as JSON; a discarded value (is_discarded()) when it is not JSON.
  nlohmann::json json() const;
};

// Prints status, headers and (a prefix of) the body, for assertion messages.
std::ostream& operator<<(std::ostream& os, const Response& r);

class HttpClient {
 public:
  HttpClient(std::string host, uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(HttpClient&&) noexcept;
  HttpClient& operator=(HttpClient&&) noexcept;

  // Sent with every request ("Authorization: Bearer <token>"); empty token = none.
  void setBearer(std::string token);
  // Another header sent with every request (replaces one of the same name).
  void setDefaultHeader(std::string name, std::string value);
  void removeDefaultHeader(std::string_view name);

  // `target` is path plus query ("/services?size=2"). A non-empty body gets
  // Content-Type: application/json unless `headers` names another. Per-request headers override
  // default ones of the same name.
  Response request(std::string_view method, std::string_view target, std::string_view body = "",
                   const Headers& headers = {});

  Response get(std::string_view target, const Headers& headers = {}) {
    return request("GET", target, "", headers);
  }
  Response post(std::string_view target, const nlohmann::json& body, const Headers& headers = {}) {
    return request("POST", target, body.dump(), headers);
  }
  Response put(std::string_view target, const nlohmann::json& body, const Headers& headers = {}) {
    return request("PUT", target, body.dump(), headers);
  }
  Response patch(std::string_view target, const nlohmann::json& body, const Headers& headers = {}) {
    return request("PATCH", target, body.dump(), headers);
  }
  Response del(std::string_view target, const Headers& headers = {}) {
    return request("DELETE", target, "", headers);
  }

  // Drops the connection; the next request opens a new one.
  void close();
  // TCP connections opened so far (a keep-alive test expects 1 after several requests).
  int connectCount() const;
  uint16_t port() const { return port_; }

 private:
  struct Impl;

  std::string host_;
  uint16_t port_;
  Headers default_headers_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnpike::test_support
