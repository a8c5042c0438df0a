#include "proxy/host_pattern.h"

#include <algorithm>
#include <cstring>

namespace turnpike::proxy {

namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Splits "name[:port]" / "[v6]:port"; returns false when the port part is malformed.
bool splitHostPort(std::string_view text, std::string_view& name, std::string_view& port) {
  std::size_t colon = std::string_view::npos;
  if (!text.empty() && text.front() == '[') {
    std::size_t close = text.find(']');
    if (close == std::string_view::npos) return false;
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      colon = close + 1;
    }
  } else {
    colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') != colon) return false;  // bare IPv6
  }
  if (colon == std::string_view::npos) {
    name = text;
    port = {};
    return true;
  }
  name = text.substr(0, colon);
  port = text.substr(colon + 1);
  return !port.empty();
}

bool validNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
         c == '[' || c == ']' || c == ':';
}

}  // namespace

model::Result<HostPattern> HostPattern::parse(std::string_view text) {
  HostPattern pattern;
  std::string_view name;
  std::string_view port;
  if (!splitHostPort(text, name, port)) return model::Error::invalid("malformed host or port");
  if (!port.empty() && !parsePortNumber(port, pattern.port_)) {
    return model::Error::invalid("port must be 1..65535");
  }
  if (name.starts_with("*.")) {
    pattern.kind_ = Kind::kWildcard;
    name.remove_prefix(1);  // keep the dot: ".example.org"
  } else if (name.find('*') != std::string_view::npos) {
    return model::Error::invalid("only a leading \"*.\" wildcard is supported");
  }
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || (pattern.kind_ == Kind::kWildcard && name.size() < 2)) {
    return model::Error::invalid("empty host name");
  }
  if (name.size() > 253) return model::Error::invalid("host name longer than 253 bytes");
  pattern.key_.reserve(name.size() + 6);
  for (char c : name) {
    char lower = lowerAscii(c);
    if (!validNameChar(lower)) return model::Error::invalid("invalid character in host name");
    pattern.key_.push_back(lower);
  }
  pattern.name_length_ = static_cast<uint32_t>(pattern.key_.size());
  if (pattern.port_ != 0) {
    pattern.key_.push_back(':');
    pattern.key_.append(std::to_string(pattern.port_));
  }
  return pattern;
}

NormalizedHost::NormalizedHost(std::string_view raw) {
  std::string_view name;
  std::string_view port;
  if (raw.empty() || !splitHostPort(raw, name, port)) return;
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() + 1 + port.size() > kMaxLength) return;
  for (std::size_t i = 0; i < name.size(); ++i) buffer_[i] = lowerAscii(name[i]);
  name_length_ = name.size();
  length_ = name_length_;
  if (!port.empty()) {
    buffer_[length_++] = ':';
    std::memcpy(buffer_ + length_, port.data(), port.size());
    length_ += port.size();
  }
  valid_ = true;
}

bool parsePortNumber(std::string_view text, uint16_t& port) {
  if (text.empty() || text.size() > 5) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  port = static_cast<uint16_t>(value);
  return true;
}

bool hostMatches(const HostPattern& pattern, const NormalizedHost& host) {
  if (!host.valid()) return false;
  std::string_view wanted = pattern.key();
  if (pattern.kind() == HostPattern::Kind::kExact) {
    return (pattern.hasPort() ? host.nameWithPort() : host.name()) == wanted;
  }
  std::string_view name = host.name();
  std::string_view suffix = pattern.name();
  if (name.size() <= suffix.size() || !name.ends_with(suffix)) return false;
  if (!pattern.hasPort()) return true;
  return host.nameWithPort().substr(name.size()) == wanted.substr(suffix.size());
}

}  // namespace turnpike::proxy
