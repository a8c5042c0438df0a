#include "proxy/header_rewrite.h"

#include <algorithm>
#include <array>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/container/small_vector.hpp>
#include <charconv>
#include <cstring>

#include "proxy/policy/json_shape.h"

namespace turnpike::proxy {

namespace http = boost::beast::http;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The field names a message's Connection fields list ("Connection: close, X-Secret"): they are
// hop-by-hop too. Views into `fields`.
using NameList = boost::container::small_vector<std::string_view, 8>;

// Calls `visit` with each item of the comma-separated `value`, trimmed, until it returns true.
template <class Visit>
bool anyToken(std::string_view value, Visit visit) {
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view token = trim(value.substr(0, comma));
    if (!token.empty() && visit(token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

// Calls `visit` with each token of the Connection fields, trimmed, until it returns true.
template <class Visit>
bool anyConnectionToken(const Fields& fields, Visit visit) {
  // A scan by enum: cheaper than equal_range(), which looks the name up as a string.
  for (const auto& field : fields) {
    if (field.name() == http::field::connection && anyToken(field.value(), visit)) return true;
  }
  return false;
}

// "keep-alive" is left out: the field it names is hop-by-hop anyway, and it is the token of
// nearly every keep-alive upstream response, whose fields then need no comparison against it.
NameList connectionTokens(const Fields& fields) {
  NameList named;
  anyConnectionToken(fields, [&](std::string_view token) {
    if (!boost::beast::iequals(token, "keep-alive")) named.push_back(token);
    return false;
  });
  return named;
}

bool isHopByHop(http::field name) {
  switch (name) {
    case http::field::connection:
    case http::field::keep_alive:
    case http::field::proxy_connection:
    case http::field::te:
    case http::field::trailer:
    case http::field::transfer_encoding:
    case http::field::upgrade:
    case http::field::content_length:  // framing: written by the caller's BodyFraming
    // Credentials for a proxy, and a proxy's challenge: meant for Turnpike, never for the
    // service behind it (nor for the client's own proxy to see from the service).
    case http::field::proxy_authorization:
    case http::field::proxy_authenticate:
      return true;
    default:
      return false;
  }
}

bool named(const NameList& names, std::string_view name) {
  return std::any_of(names.begin(), names.end(), [&](std::string_view token) {
    return token.size() == name.size() && boost::beast::iequals(token, name);
  });
}

// One resize and two copies: four appends cost twice as much (each checks the capacity and copies
// through memcpy, even ": " and CRLF).
void appendField(std::string& out, std::string_view name, std::string_view value) {
  const std::size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

// A received field after the route's header edits: dropped, renamed or copied (as its line, in
// one piece).
void appendEdited(std::string& out, const policy::HeaderEdits* edits, const Fields::Field& field) {
  if (edits != nullptr) {
    std::string_view new_name;
    switch (edits->decide(field.name_string(), &new_name)) {
      case policy::HeaderEdits::Action::kDrop:
        return;
      case policy::HeaderEdits::Action::kRename:
        appendField(out, new_name, field.value());
        return;
      case policy::HeaderEdits::Action::kKeep:
        break;
    }
  }
  out.append(field.line());
}

void appendSetFields(std::string& out, const policy::HeaderEdits& edits) {
  for (const auto& [name, value] : edits.set) appendField(out, name, value);
}

void appendNumber(std::string& out, uint64_t value) {
  std::array<char, 24> digits;
  auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

void appendFraming(std::string& out, BodyFraming framing, uint64_t content_length) {
  switch (framing) {
    case BodyFraming::kContentLength:
      out.append("Content-Length: ");
      appendNumber(out, content_length);
      out.append("\r\n");
      break;
    case BodyFraming::kChunked:
      out.append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyFraming::kNone:
    case BodyFraming::kAsReceived:
      break;
  }
}

constexpr std::string_view kForwardedFor = "X-Forwarded-For";

// Request fields Turnpike writes itself (Beast has no enum value for them).
enum class Owned : uint8_t { kNo, kForwardedFor, kOther };

Owned ownedRequestField(std::string_view name) {
  // "Proxy" is no standard request field; a CGI upstream would read it as the HTTP_PROXY
  // environment variable and send its own outbound calls through the client's proxy (httpoxy).
  if (name.size() == 5 && boost::beast::iequals(name, "Proxy")) return Owned::kOther;
  if (name.size() < 12 || (name[0] != 'x' && name[0] != 'X') || name[1] != '-') return Owned::kNo;
  if (boost::beast::iequals(name, kForwardedFor)) return Owned::kForwardedFor;
  for (std::string_view owned : {"X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id",
                                 "X-Consumer-Id", "X-Consumer-Username", "X-Consumer-Groups",
                                 "X-Client-Cert-Subject", "X-Client-Cert-Fingerprint"}) {
    if (boost::beast::iequals(name, owned)) return Owned::kOther;
  }
  return Owned::kNo;
}

// The fields of a 101 (Switching Protocols): the upstream's, Connection and Upgrade as it sent
// them (what they say is between the client and the upstream from here on), X-Request-Id when
// it sent none, the caller's extra fields. No framing: the connection is no longer HTTP.
void appendSwitchingHead(const Fields& fields, const ClientResponseHead& head, std::string& out) {
  bool has_request_id = false;
  for (const auto& field : fields) {
    const http::field name = field.name();
    if (name == http::field::content_length || name == http::field::transfer_encoding ||
        name == http::field::keep_alive || name == http::field::proxy_connection ||
        name == http::field::proxy_authenticate) {
      continue;
    }
    if (name == http::field::unknown &&
        boost::beast::iequals(field.name_string(), "X-Request-Id")) {
      has_request_id = true;
    }
    appendEdited(out, head.edits, field);
  }
  if (head.edits != nullptr) appendSetFields(out, *head.edits);
  if (!has_request_id) appendField(out, "X-Request-Id", head.request_id);
  out.append(head.extra_fields);
  out.append("\r\n");
}

}  // namespace

void appendUpstreamRequestHead(const Fields& fields, const UpstreamRequestHead& head,
                               std::string& out) {
  out.append(head.method).append(" ").append(head.target).append(" HTTP/1.1\r\n");
  appendField(out, "Host", head.host);
  const NameList hop_by_hop = connectionTokens(fields);
  // Several X-Forwarded-For lines are one comma-separated list (RFC 9110 §5.3).
  boost::container::small_vector<std::string_view, 4> forwarded_for;
  for (const auto& field : fields) {
    const http::field name = field.name();
    const std::string_view name_string = field.name_string();
    if (isHopByHop(name) || name == http::field::host || name == http::field::expect) continue;
    if (name == http::field::unknown) {
      switch (ownedRequestField(name_string)) {
        case Owned::kForwardedFor:
          forwarded_for.push_back(field.value());
          continue;
        case Owned::kOther:
          continue;
        case Owned::kNo:
          break;
      }
    }
    if (!head.hide_header.empty() && boost::beast::iequals(name_string, head.hide_header)) {
      continue;
    }
    if (!hop_by_hop.empty() && named(hop_by_hop, name_string)) continue;
    appendEdited(out, head.edits, field);
  }
  if (head.edits != nullptr) appendSetFields(out, *head.edits);

  out.append(kForwardedFor).append(": ");
  for (std::string_view chain : forwarded_for) out.append(chain).append(", ");
  out.append(head.forwarding.client_ip).append("\r\n");
  if (!head.forwarding.proto.empty()) appendField(out, "X-Forwarded-Proto", head.forwarding.proto);
  if (!head.forwarding.host.empty()) appendField(out, "X-Forwarded-Host", head.forwarding.host);
  appendField(out, "X-Request-Id", head.forwarding.request_id);
  out.append(head.forwarding.client_cert_fields);
  out.append(head.consumer_fields);
  if (!head.upgrade.empty()) {
    out.append("Connection: Upgrade\r\n");
    appendField(out, "Upgrade", head.upgrade);
  }
  appendFraming(out, head.framing, head.content_length);
  out.append("\r\n");
}

void appendClientResponseHead(const Fields& fields, const ClientResponseHead& head,
                              std::string& out) {
  if (head.status >= 100 && head.status <= 999) {  // what Beast's parser lets through
    char start[] = "HTTP/1.1 000 ";
    start[9] = static_cast<char>('0' + head.status / 100);
    start[10] = static_cast<char>('0' + head.status / 10 % 10);
    start[11] = static_cast<char>('0' + head.status % 10);
    out.append(start, sizeof start - 1);
  } else {
    out.append("HTTP/1.1 ");
    appendNumber(out, head.status);
    out.append(" ");
  }
  // The upstream's reason; else the standard phrase, if the status has one (else none, which
  // RFC 9112 allows, rather than Beast's "<unknown-status>").
  std::string_view reason = head.reason;
  if (reason.empty() && http::int_to_status(head.status) != http::status::unknown) {
    reason = http::obsolete_reason(http::int_to_status(head.status));
  }
  out.append(reason).append("\r\n");
  if (head.upgrade) {
    appendSwitchingHead(fields, head, out);
    return;
  }
  const NameList hop_by_hop = connectionTokens(fields);
  bool has_request_id = false;
  for (const auto& field : fields) {
    const http::field name = field.name();
    const std::string_view name_string = field.name_string();
    if (isHopByHop(name)) {
      // A response without a body says how long the GET's body would have been.
      if (name == http::field::content_length && head.framing == BodyFraming::kAsReceived) {
        appendField(out, name_string, field.value());
      }
      continue;
    }
    if (!hop_by_hop.empty() && named(hop_by_hop, name_string)) continue;
    if (name == http::field::unknown && boost::beast::iequals(name_string, "X-Request-Id")) {
      has_request_id = true;
    }
    appendEdited(out, head.edits, field);
  }
  if (head.edits != nullptr) appendSetFields(out, *head.edits);
  if (!has_request_id) appendField(out, "X-Request-Id", head.request_id);
  out.append(head.extra_fields);
  appendFraming(out, head.framing, head.content_length);
  if (!head.keep_alive) {
    out.append("Connection: close\r\n");
  } else if (head.http10_client) {
    out.append("Connection: keep-alive\r\n");
  }
  out.append("\r\n");
}

bool hasToken(std::string_view value, std::string_view token) {
  return anyToken(value, [&](std::string_view item) { return boost::beast::iequals(item, token); });
}

bool reshapesJson(const ParsedMessage<false>& response,
                  const boost::optional<uint64_t>& content_length,
                  const policy::CompiledResponseTransform& transform) {
  // Successful answers only: an upstream's error body keeps the shape its clients know.
  if (response.result_int() / 100 != 2) return false;
  if (content_length && *content_length > transform.maxBodyBytes()) return false;
  if (!policy::isJsonMediaType(response[http::field::content_type])) return false;
  const std::string_view encoding = response[http::field::content_encoding];
  return encoding.empty() || boost::beast::iequals(encoding, "identity");
}

bool keepsAlive(const Fields& fields, unsigned version) {
  const std::string_view wanted = version < 11 ? "keep-alive" : "close";
  const bool said = anyConnectionToken(
      fields, [&](std::string_view token) { return boost::beast::iequals(token, wanted); });
  return version < 11 ? said : !said;
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
