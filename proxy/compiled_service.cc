#include "proxy/compiled_service.h"

#include <algorithm>

#include "proxy/host_pattern.h"

namespace turnpike::proxy {

namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool validHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

}  // namespace

model::Result<UpstreamTarget> UpstreamTarget::parse(const model::Target& target) {
  UpstreamTarget out;
  out.url = target.url;
  out.weight = target.weight;
  if (target.weight < 0) return model::Error::invalid("weight must not be negative");

  std::string_view rest = target.url;
  std::string scheme;
  std::size_t sep = rest.find("://");
  if (sep == std::string_view::npos) return model::Error::invalid("url must be http://host:port");
  for (char c : rest.substr(0, sep)) scheme.push_back(lowerAscii(c));
  if (scheme == "http") {
    out.port = 80;
  } else if (scheme == "https") {
    out.port = 443;
    out.tls = true;
  } else {
    return model::Error::invalid("url scheme must be http or https");
  }
  rest.remove_prefix(sep + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos) {
    return model::Error::invalid("url must not hold a path, query or userinfo");
  }

  std::string_view host;
  std::string_view port;
  bool ipv6 = false;
  if (rest.starts_with('[')) {
    std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return model::Error::invalid("unclosed '[' in url");
    host = rest.substr(1, close - 1);
    ipv6 = true;
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return model::Error::invalid("malformed port in url");
      port = after.substr(1);
      if (port.empty()) return model::Error::invalid("malformed port in url");
    }
    if (host.empty() ||
        host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
      return model::Error::invalid("malformed IPv6 address in url");
    }
  } else {
    std::size_t colon = rest.find(':');
    host = rest.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return model::Error::invalid("malformed port in url");
    }
  }
  if (!port.empty() && !parsePortNumber(port, out.port)) {
    return model::Error::invalid("port must be 1..65535");
  }
  if (host.empty()) return model::Error::invalid("url has no host");
  for (char c : host) out.host.push_back(lowerAscii(c));
  if (!ipv6 && !std::all_of(out.host.begin(), out.host.end(), validHostChar)) {
    return model::Error::invalid("invalid character in url host");
  }

  out.authority = ipv6 ? "[" + out.host + "]" : out.host;
  bool default_port = out.port == (out.tls ? 443 : 80);
  if (!default_port) {
    // Two appends: GCC 12 at -O3 reports a false -Wrestrict on `+= ":" + std::to_string(...)`.
    out.authority.push_back(':');
    out.authority.append(std::to_string(out.port));
  }
  return out;
}

}  // namespace turnpike::proxy
