// Plain HTTP request/response values for the admin API. The Pistache adapter (AdminServer)
// converts to and from these, so that every handler is testable without a socket.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace turnpike::admin {

struct HttpRequest {
  std::string method;                          // "GET"
  std::string path;                            // decoded path without the query: "/services/orders"
  std::map<std::string, std::string> query;    // decoded; last value wins
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string peer;  // "127.0.0.1:5544", for logs

  const std::string* header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? nullptr : &it->second;
  }
  const std::string* queryParam(const std::string& name) const {
    auto it = query.find(name);
    return it == query.end() ? nullptr : &it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;  // e.g. {"Content-Type", "..."}
  std::string body;

  void setHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
  }
  const std::string* header(const std::string& name) const;  // case-insensitive
};

}  // namespace turnpike::admin
