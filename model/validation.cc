#include "model/validation.h"

#include <arpa/inet.h>

#include <cctype>
#include <cstring>

namespace turnpike::model {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// inet_pton reads a C string: a NUL inside `text` would end it early and let what follows pass
// unchecked, so such text is refused first.
bool isIpv4Literal(std::string_view text) {
  if (text.size() > 15 || text.find('\0') != std::string_view::npos) return false;
  std::string copy(text);
  in_addr addr;
  return inet_pton(AF_INET, copy.c_str(), &addr) == 1;
}

}  // namespace

bool isHttpToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (isAlpha(c) || isDigit(c)) continue;
    if (std::strchr("!#$%&'*+-.^_`|~", c) == nullptr || c == '\0') return false;
  }
  return true;
}

std::string asciiLower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string asciiUpper(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

bool isValidHostName(std::string_view host, bool allow_underscore) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view last_label;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = host.find('.', start);
    std::string_view label =
        host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char c : label) {
      if (!(isAlpha(c) || isDigit(c) || c == '-' || (allow_underscore && c == '_'))) return false;
    }
    last_label = label;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  bool numeric_tld = true;
  for (char c : last_label) numeric_tld = numeric_tld && isDigit(c);
  // No top-level domain is all digits, so such a name can only mean an IPv4 address.
  if (numeric_tld) return isIpv4Literal(host);
  return true;
}

bool isIpv6Literal(std::string_view text) {
  // See isIpv4Literal about NUL.
  if (text.empty() || text.size() > 45 || text.find('\0') != std::string_view::npos) return false;
  std::string copy(text);
  in6_addr addr;
  return inet_pton(AF_INET6, copy.c_str(), &addr) == 1;
}

std::optional<int> parsePort(std::string_view text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : text) {
    if (!isDigit(c)) return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port < 1 || port > 65535) return std::nullopt;
  return port;
}

std::size_t utf8Length(std::string_view text) {
  std::size_t n = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

bool hasControlChars(std::string_view text) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

}  // namespace turnpike::model
