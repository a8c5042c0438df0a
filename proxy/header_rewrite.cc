#include "proxy/header_rewrite.h"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <string>
#include <vector>

namespace turnpike::proxy {

namespace http = boost::beast::http;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

void removeHopByHop(http::fields& fields) {
  // Connection may name more hop-by-hop fields ("Connection: close, X-Secret"). Collect them
  // before erasing anything: the names point into the fields.
  std::vector<std::string> named;
  for (auto range = fields.equal_range(http::field::connection); range.first != range.second;
       ++range.first) {
    std::string_view value = range.first->value();
    while (!value.empty()) {
      std::size_t comma = value.find(',');
      std::string_view token = trim(value.substr(0, comma));
      if (!token.empty()) named.emplace_back(token);
      if (comma == std::string_view::npos) break;
      value.remove_prefix(comma + 1);
    }
  }
  for (const std::string& name : named) fields.erase(name);
  static constexpr std::array kHopByHop = {
      http::field::connection, http::field::keep_alive, http::field::proxy_connection,
      http::field::te,         http::field::trailer,    http::field::transfer_encoding,
      http::field::upgrade,
  };
  for (http::field field : kHopByHop) fields.erase(field);
}

void setForwardingHeaders(http::fields& fields, const ForwardingInfo& info) {
  constexpr std::string_view kForwardedFor = "X-Forwarded-For";
  auto existing = fields.find(kForwardedFor);
  if (existing == fields.end()) {
    fields.set(kForwardedFor, info.client_ip);
  } else {
    std::string chain(existing->value());
    // Several X-Forwarded-For lines are one comma-separated list (RFC 9110 §5.3).
    for (auto it = std::next(existing); it != fields.end(); ++it) {
      if (boost::beast::iequals(it->name_string(), kForwardedFor)) {
        chain.append(", ").append(it->value());
      }
    }
    chain.append(", ").append(info.client_ip);
    fields.set(kForwardedFor, chain);
  }
  if (!info.proto.empty()) fields.set("X-Forwarded-Proto", info.proto);
  if (!info.host.empty()) fields.set("X-Forwarded-Host", info.host);
  fields.set("X-Request-Id", info.request_id);
}

bool isAcceptableRequestId(std::string_view id) {
  return !id.empty() && id.size() <= 200 && std::all_of(id.begin(), id.end(), [](char c) {
    return static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
}

bool isIdempotentMethod(std::string_view method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS" || method == "TRACE";
}

}  // namespace turnpike::proxy
