// Host matching vocabulary: a route's compiled host pattern, and a request's Host header
// normalized for lookup.
//
// Route hosts are "api.example.com", "*.example.org" (any name ending in ".example.org", at any
// depth, but not "example.org" itself) and either with ":port". Names compare ASCII
// case-insensitively and a trailing '.' is ignored. A route host without a port matches any port
// in the Host header; a route host with a port matches only a Host header carrying that port.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/result.h"

namespace turnpike::proxy {

class HostPattern {
 public:
  enum class Kind : uint8_t { kExact, kWildcard };

  // Parses one entry of Route::hosts. Errors name no field (the builder adds it).
  static model::Result<HostPattern> parse(std::string_view text);

  Kind kind() const { return kind_; }
  bool hasPort() const { return port_ != 0; }
  uint16_t port() const { return port_; }

  // The lookup key: lower case, no trailing dot; exact: "api.example.com[:8443]", wildcard:
  // ".example.org[:8443]" (the '*' dropped, the dot kept).
  const std::string& key() const { return key_; }
  // The name part of key() (without ":port").
  std::string_view name() const { return std::string_view(key_).substr(0, name_length_); }

 private:
  Kind kind_ = Kind::kExact;
  uint16_t port_ = 0;
  uint32_t name_length_ = 0;
  std::string key_;
};

// A request's Host header, lower-cased into an inline buffer (no allocation) and split into name
// and port. Holds "name" or "name:port" contiguously so that exact and wildcard keys, with or
// without the port, are all substrings of one buffer.
class NormalizedHost {
 public:
  static constexpr std::size_t kMaxLength = 261;  // 253-byte name + ':' + 5-digit port + slack

  // An empty or over-long Host, or one with an empty port ("a.com:"), is not valid: it matches
  // only routes without hosts.
  explicit NormalizedHost(std::string_view raw);

  bool valid() const { return valid_; }
  bool hasPort() const { return length_ > name_length_; }
  std::string_view name() const { return {buffer_, name_length_}; }
  std::string_view nameWithPort() const { return {buffer_, length_}; }
  // Name suffix from byte `from` (a '.' position) with and without the port.
  std::string_view suffix(std::size_t from) const { return {buffer_ + from, name_length_ - from}; }
  std::string_view suffixWithPort(std::size_t from) const {
    return {buffer_ + from, length_ - from};
  }

 private:
  char buffer_[kMaxLength];
  std::size_t name_length_ = 0;
  std::size_t length_ = 0;
  bool valid_ = false;
};

// Reference semantics (slow path: explain, tests): does `pattern` match the request host?
bool hostMatches(const HostPattern& pattern, const NormalizedHost& host);

// Parses a decimal TCP port, 1..65535, digits only. Leaves `port` alone on failure.
bool parsePortNumber(std::string_view text, uint16_t& port);

}  // namespace turnpike::proxy
