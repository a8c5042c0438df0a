#include "proxy/request_target.h"

#include <algorithm>

namespace turnpike::proxy {

namespace {

// RFC 9112: a request-target may not hold CTLs, spaces or non-ASCII bytes raw; Beast's parser
// already refuses most of them, this is the check for the rest.
bool validTargetByte(unsigned char c) { return c > 0x20 && c < 0x7f; }

void repoint(const RequestTarget& from, RequestTarget& to) {
  to.storage = from.storage;
  to.authority = from.authority;
  to.query = from.query;
  if (!from.storage.empty() && from.path.data() == from.storage.data()) {
    to.path = std::string_view(to.storage);
  } else {
    to.path = from.path;
  }
}

}  // namespace

RequestTarget::RequestTarget(const RequestTarget& other) { repoint(other, *this); }

RequestTarget& RequestTarget::operator=(const RequestTarget& other) {
  if (this != &other) repoint(other, *this);
  return *this;
}

bool hasDotSegments(std::string_view path) {
  // A segment is "." or ".." when a '.' follows a '/' and is followed by '/', end, or ".".
  for (std::size_t i = path.find("/."); i != std::string_view::npos; i = path.find("/.", i + 1)) {
    std::size_t j = i + 2;
    if (j == path.size() || path[j] == '/') return true;
    if (path[j] == '.' && (j + 1 == path.size() || path[j + 1] == '/')) return true;
  }
  return false;
}

bool removeDotSegments(std::string_view path, std::string& out) {
  const std::size_t base = out.size();
  std::size_t i = 0;
  while (i < path.size()) {
    // path[i] == '/' at every loop start (the path is absolute).
    std::size_t end = path.find('/', i + 1);
    if (end == std::string_view::npos) end = path.size();
    std::string_view segment = path.substr(i + 1, end - i - 1);
    const bool last = end == path.size();
    if (segment == ".") {
      if (last) out.push_back('/');
    } else if (segment == "..") {
      if (out.size() == base) return false;  // above the root
      out.resize(out.rfind('/'));
      if (out.size() < base) return false;
      if (last) out.push_back('/');
    } else {
      out.push_back('/');
      out.append(segment);
    }
    i = end;
  }
  if (out.size() == base) out.push_back('/');
  return true;
}

bool parseRequestTarget(std::string_view input, RequestTarget& out, RequestTargetError& error) {
  out = RequestTarget();
  if (input.empty()) {
    error.reason = "the request target is empty";
    return false;
  }
  if (!std::all_of(input.begin(), input.end(),
                   [](char c) { return validTargetByte(static_cast<unsigned char>(c)); })) {
    error.reason = "the request target holds a byte that is not allowed";
    return false;
  }
  // RFC 9112 §3.2: a request-target has no fragment, in the path or the query (an upstream
  // would cut the query at a '#' that Turnpike passed on).
  if (input.find('#') != std::string_view::npos) {
    error.reason = "the request target holds a fragment";
    return false;
  }
  std::string_view rest = input;
  if (rest.front() != '/') {
    // absolute-form: scheme "://" authority [path-abempty] ["?" query]
    constexpr std::string_view kHttp = "http://";
    constexpr std::string_view kHttps = "https://";
    std::size_t skip = 0;
    auto startsWithNoCase = [&](std::string_view prefix) {
      return rest.size() >= prefix.size() &&
             std::equal(prefix.begin(), prefix.end(), rest.begin(), [](char a, char b) {
               return a == (b >= 'A' && b <= 'Z' ? static_cast<char>(b + 32) : b);
             });
    };
    if (startsWithNoCase(kHttp)) {
      skip = kHttp.size();
    } else if (startsWithNoCase(kHttps)) {
      skip = kHttps.size();
    } else {
      error.reason = "the request target must be a path (origin-form) or an http URL";
      return false;
    }
    rest.remove_prefix(skip);
    std::size_t end = rest.find_first_of("/?");
    out.authority = rest.substr(0, end);
    if (out.authority.empty() || out.authority.find('@') != std::string_view::npos) {
      error.reason = "the request target's authority is empty or holds userinfo";
      return false;
    }
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
    if (rest.empty() || rest.front() == '?') {
      // "http://host" and "http://host?q" have the path "/".
      out.query = rest.empty() ? std::string_view() : rest.substr(1);
      out.path = "/";
      return true;
    }
  }
  std::size_t question = rest.find('?');
  std::string_view path = rest.substr(0, question);
  if (question != std::string_view::npos) out.query = rest.substr(question + 1);
  if (!hasDotSegments(path)) {
    out.path = path;
    return true;
  }
  out.storage.reserve(path.size());
  if (!removeDotSegments(path, out.storage)) {
    error.reason = "the request path climbs above the root";
    return false;
  }
  out.path = std::string_view(out.storage);
  return true;
}

}  // namespace turnpike::proxy
