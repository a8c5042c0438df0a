// Fuzzes what Turnpike sends upstream: the input is a raw HTTP request. When Beast parses its
// head, the harness follows http1/session.cc: the same refusals (two Host fields, no Host on
// HTTP/1.1, a Transfer-Encoding that does not end in chunked, a request-target that
// parseRequestTarget() refuses), routing on a fixed snapshot (strip_path on prefix, template and
// regex routes, preserve_host, a catch-all), appendUpstreamTarget() and
// appendUpstreamRequestHead(). The head written must:
//   - parse again with Beast as one request head, every byte of it, with the method and the
//     target Turnpike chose; one field per written line (no CR or LF smuggled into a line);
//   - hold no hop-by-hop field (Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Upgrade,
//     nor any field the client's Connection named), no Proxy-Authorization or
//     Proxy-Authenticate, no Expect, no Proxy (httpoxy), no hidden credential field;
//     Transfer-Encoding only as "chunked" for chunked framing, Content-Length only for
//     content-length framing, each once;
//   - hold Host, X-Forwarded-For (ending with the client address), X-Forwarded-Proto,
//     X-Request-Id, X-Forwarded-Host (when a host is known) and X-Consumer-* (when a consumer is
//     known) exactly once, with Turnpike's values;
//   - keep every other client field, as many times as the client sent it;
//   - carry a target without "." or ".." segments (normalized, as request_target.h promises),
//     spaces, CR, LF or '#';
//   - on the route with a request_transform (paths under /t): the path rewritten, the query's
//     removed parameter gone and the set one present once, percent-encoded; the removed field
//     absent, the set field present once with its value, the renamed field under its new name
//     as often as the client sent it under either name.
#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "model/config.h"
#include "proxy/compiled_consumer.h"
#include "proxy/header_rewrite.h"
#include "proxy/http_fields.h"
#include "proxy/request_target.h"
#include "proxy/request_view.h"
#include "proxy/router.h"
#include "proxy/snapshot.h"
#include "proxy/snapshot_builder.h"

namespace turnpike::proxy {
namespace {

namespace http = boost::beast::http;

using Parser = HttpParser<true>;

constexpr std::string_view kClientIp = "192.0.2.7";
constexpr std::string_view kUpstreamAuthority = "10.0.0.1:8080";
constexpr std::string_view kGeneratedRequestId = "generated-request-id";
constexpr std::string_view kHiddenHeader = "apikey";

[[noreturn]] void fail(const std::string& what, std::string_view head = {}) {
  std::fprintf(stderr, "request_rewrite_fuzz: invariant violated: %s\n", what.c_str());
  if (!head.empty()) {
    std::fprintf(stderr, "  upstream head:\n%.*s\n", static_cast<int>(head.size()), head.data());
  }
  std::abort();
}

model::Route route(int n, std::vector<std::string> paths, bool strip, bool preserve_host) {
  model::Route r;
  char id[37];
  std::snprintf(id, sizeof(id), "00000000-0000-4000-8000-%012d", n);
  r.id = id;
  r.name = "r" + std::to_string(n);
  r.service = "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a01";
  r.paths = std::move(paths);
  r.strip_path = strip;
  r.preserve_host = preserve_host;
  return r;
}

const Snapshot& fixedSnapshot() {
  static const SnapshotConstSharedPtr snapshot = [] {
    model::Config config;
    config.version = 1;
    model::Service service;
    service.id = "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a01";
    service.name = "svc";
    service.targets.push_back({"http://" + std::string(kUpstreamAuthority), 100});
    config.services.push_back(std::move(service));
    config.routes = {route(1, {"/api"}, true, false),      route(2, {"/users/{id}"}, true, false),
                     route(3, {"~/v[0-9]+"}, true, false), route(4, {"/keep"}, false, true),
                     route(5, {"/"}, true, false),         route(6, {"/t"}, true, false)};
    config.routes.back().request_transform =
        model::RequestTransform{.set_headers = {{"x-set", "set value"}},
                                .remove_headers = {"cookie"},
                                .rename_headers = {{"x-old", "x-new"}},
                                .set_query = {{"v", "a b&c"}},
                                .remove_query = {"debug"},
                                .rewrite_path = model::PathRewrite{"^/(.*)$", "/rewritten/\\1"}};
    auto built = SnapshotBuilder::build(std::move(config));
    if (!built) fail("the fixed snapshot does not build: " + built.error().message);
    return *built;
  }();
  return *snapshot;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::vector<std::string> connectionTokens(const Fields& fields) {
  std::vector<std::string> tokens;
  for (const auto& field : fields) {
    if (field.name() != http::field::connection) continue;
    std::string_view value = field.value();
    std::size_t start = 0;
    while (start <= value.size()) {
      std::size_t comma = value.find(',', start);
      if (comma == std::string_view::npos) comma = value.size();
      std::string_view token = trim(value.substr(start, comma - start));
      if (!token.empty()) tokens.emplace_back(token);
      start = comma + 1;
    }
  }
  return tokens;
}

bool isAnyOf(std::string_view name, std::initializer_list<std::string_view> names) {
  for (std::string_view n : names) {
    if (boost::beast::iequals(name, n)) return true;
  }
  return false;
}

// Fields Turnpike writes itself, whatever the client sent.
bool isTurnpikeField(std::string_view name) {
  return isAnyOf(name, {"Host", "Content-Length", "Transfer-Encoding", "X-Forwarded-For",
                        "X-Forwarded-Proto", "X-Forwarded-Host", "X-Request-Id", "X-Consumer-Id",
                        "X-Consumer-Username", "X-Consumer-Groups"});
}

bool isHopByHop(std::string_view name) {
  return isAnyOf(
      name, {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
             "Upgrade", "Content-Length", "Proxy-Authorization", "Proxy-Authenticate"});
}

bool hasDotSegment(std::string_view path) {
  std::size_t start = 0;
  while (start < path.size()) {
    std::size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(start, slash - start);
    if (segment == "." || segment == "..") return true;
    start = slash + 1;
  }
  return false;
}

std::size_t countOf(const Fields& fields, std::string_view name) { return fields.count(name); }

void expectOnce(const Fields& fields, std::string_view name, std::string_view value,
                std::string_view head) {
  std::size_t n = countOf(fields, name);
  if (n != 1) fail(std::string(name) + " appears " + std::to_string(n) + " times", head);
  std::string_view got = fields[name];
  if (got != value) fail(std::string(name) + " is '" + std::string(got) + "'", head);
}

void expectAbsent(const Fields& fields, std::string_view name, std::string_view head) {
  if (countOf(fields, name) != 0) fail(std::string(name) + " was passed upstream", head);
}

// The whole of http1/session.cc's way from a parsed request to the upstream head.
void rewriteAndCheck(const ParsedMessage<true>& request, const Parser& parser, bool with_consumer) {
  const Fields& fields = request.fields();
  if (fields.count(http::field::host) > 1) return;
  if (fields.count(http::field::host) == 0 && request.version() >= 11) return;
  if (!parser.chunked() && fields.count(http::field::transfer_encoding) > 0) return;
  RequestTarget target;
  RequestTargetError target_error;
  if (!parseRequestTarget(request.target(), target, target_error)) return;
  if (hasDotSegment(target.path)) fail("parseRequestTarget() left a dot segment");

  std::string method(request.method_string());
  std::string host(target.authority.empty() ? std::string_view(request[http::field::host])
                                            : target.authority);
  std::string_view given_id = request["X-Request-Id"];
  std::string request_id(isAcceptableRequestId(given_id) ? given_id : kGeneratedRequestId);

  const Snapshot& snapshot = fixedSnapshot();
  RouteMatch match =
      snapshot.router().match(RequestView{method, host, target.path, HeaderView::ofFields(fields)});
  if (!match) fail("the catch-all route did not match " + std::string(target.path));
  const policy::CompiledRequestTransform* transform = match.route->request_transform.get();
  std::string query(target.query);
  if (transform != nullptr) query = transform->rewriteQuery(query);
  std::string upstream_target;
  appendUpstreamTarget(match, target.path, query, upstream_target);
  if (transform != nullptr && !transform->rewritePath(upstream_target)) {
    fail("the catch-all rewrite did not match " + upstream_target);
  }

  const bool chunked = parser.chunked();
  const bool has_length = parser.content_length().has_value();
  UpstreamRequestHead head{
      .method = method,
      .target = upstream_target,
      .host = match.route->preserveHost() && !host.empty() ? std::string_view(host)
                                                           : kUpstreamAuthority,
      .forwarding = {.client_ip = kClientIp,
                     .host = host,
                     .proto = "http",
                     .request_id = request_id},
      .hide_header = kHiddenHeader,
      .framing = chunked      ? BodyFraming::kChunked
                 : has_length ? BodyFraming::kContentLength
                              : BodyFraming::kNone,
      .content_length = parser.content_length().value_or(0),
      .edits = transform != nullptr ? &transform->headers() : nullptr,
  };
  constexpr std::string_view kConsumerId = "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a03";
  constexpr std::string_view kConsumerUsername = "alice";
  constexpr std::string_view kConsumerGroups = "gold,silver";
  const std::string consumer = consumerFields(kConsumerId, kConsumerUsername, kConsumerGroups);
  if (with_consumer) head.consumer_fields = consumer;
  std::string out = "stale bytes that must stay";
  const std::size_t base = out.size();
  appendUpstreamRequestHead(fields, head, out);
  if (out.compare(0, base, "stale bytes that must stay") != 0) fail("the prefix was overwritten");
  std::string_view written = std::string_view(out).substr(base);

  // One request head, every byte of it.
  Parser reparser;
  reparser.eager(false);
  reparser.header_limit(static_cast<std::uint32_t>(written.size() + 1));
  boost::system::error_code ec;
  std::size_t used = reparser.put(boost::asio::buffer(written.data(), written.size()), ec);
  if (ec || !reparser.is_header_done() || used != written.size()) {
    fail("the upstream head does not parse as one head: " + ec.message() + ", used " +
             std::to_string(used) + " of " + std::to_string(written.size()),
         written);
  }
  const ParsedMessage<true>& reparsed = reparser.get();
  const Fields& sent = reparsed.fields();
  if (reparsed.method_string() != method || reparsed.target() != upstream_target ||
      reparsed.version() != 11) {
    fail("request line changed", written);
  }
  std::size_t lines = 0;
  for (std::size_t at = written.find('\n'); at != std::string_view::npos;
       at = written.find('\n', at + 1)) {
    if (at == 0 || written[at - 1] != '\r') fail("a bare LF in the head", written);
    ++lines;
  }
  if (written.find('\r') != std::string_view::npos &&
      lines != static_cast<std::size_t>(std::count(written.begin(), written.end(), '\r'))) {
    fail("a bare CR in the head", written);
  }
  const auto field_count = sent.size();
  if (lines != field_count + 2) {
    fail(std::to_string(lines - 2) + " field lines but " + std::to_string(field_count) +
             " fields after reparsing",
         written);
  }

  for (std::string_view name :
       {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Upgrade", "Expect",
        "Proxy", "Proxy-Authorization", "Proxy-Authenticate"}) {
    expectAbsent(sent, name, written);
  }
  expectAbsent(sent, kHiddenHeader, written);
  const std::vector<std::string> named = connectionTokens(fields);
  for (const std::string& token : named) {
    if (isTurnpikeField(token)) continue;
    // A Connection token names the client's own field: the route's set_headers value, and a
    // client field renamed onto that name, are the gateway's and still go upstream.
    if (transform != nullptr && isAnyOf(token, {"x-set", "x-new"})) continue;
    expectAbsent(sent, token, written);
  }
  if (chunked) {
    expectOnce(sent, "Transfer-Encoding", "chunked", written);
  } else {
    expectAbsent(sent, "Transfer-Encoding", written);
  }
  if (head.framing == BodyFraming::kContentLength) {
    expectOnce(sent, "Content-Length", std::to_string(head.content_length), written);
  } else {
    expectAbsent(sent, "Content-Length", written);
  }

  expectOnce(sent, "Host", head.host, written);
  if (countOf(sent, "X-Forwarded-For") != 1) fail("X-Forwarded-For not exactly once", written);
  std::string_view xff = sent["X-Forwarded-For"];
  if (xff.size() < kClientIp.size() || xff.substr(xff.size() - kClientIp.size()) != kClientIp) {
    fail("X-Forwarded-For does not end with the client address", written);
  }
  expectOnce(sent, "X-Forwarded-Proto", "http", written);
  if (host.empty()) {
    expectAbsent(sent, "X-Forwarded-Host", written);
  } else {
    expectOnce(sent, "X-Forwarded-Host", host, written);
  }
  expectOnce(sent, "X-Request-Id", request_id, written);
  if (with_consumer) {
    expectOnce(sent, "X-Consumer-Id", kConsumerId, written);
    expectOnce(sent, "X-Consumer-Username", kConsumerUsername, written);
    expectOnce(sent, "X-Consumer-Groups", kConsumerGroups, written);
  } else {
    expectAbsent(sent, "X-Consumer-Id", written);
    expectAbsent(sent, "X-Consumer-Username", written);
    expectAbsent(sent, "X-Consumer-Groups", written);
  }

  if (transform != nullptr) {
    expectAbsent(sent, "cookie", written);
    expectAbsent(sent, "x-old", written);
    expectOnce(sent, "x-set", "set value", written);
    auto client_count = [&](std::string_view name) {
      for (const std::string& token : named) {
        if (boost::beast::iequals(token, name)) return std::size_t{0};
      }
      return countOf(fields, name);
    };
    if (countOf(sent, "x-new") != client_count("x-old") + client_count("x-new")) {
      fail("x-old was not renamed to x-new as often as it was sent", written);
    }
    const std::string_view sent_query = splitTarget(upstream_target).query;
    if (!upstream_target.starts_with("/rewritten/")) fail("path not rewritten", written);
    for (std::string_view rest = sent_query; !rest.empty();) {
      const std::size_t amp = rest.find('&');
      const std::string_view parameter = rest.substr(0, amp);
      if (parameter.substr(0, parameter.find('=')) == "debug") fail("debug was kept", written);
      if (amp == std::string_view::npos) break;
      rest.remove_prefix(amp + 1);
    }
    if (!sent_query.ends_with("v=a%20b%26c")) fail("v was not set last, encoded", written);
  }

  // Every other field of the client's is kept, as often as it was sent.
  for (const auto& field : fields) {
    std::string_view name = field.name_string();
    if (isHopByHop(name) || isTurnpikeField(name) || isAnyOf(name, {"Expect", "Proxy"}) ||
        boost::beast::iequals(name, kHiddenHeader)) {
      continue;
    }
    if (transform != nullptr && isAnyOf(name, {"cookie", "x-old", "x-new", "x-set"})) continue;
    bool is_named = false;
    for (const std::string& token : named)
      is_named = is_named || boost::beast::iequals(token, name);
    if (is_named) continue;
    if (countOf(sent, name) != countOf(fields, name)) {
      fail("client field " + std::string(name) + " was not passed on as sent", written);
    }
  }

  if (hasDotSegment(splitTarget(upstream_target).path)) {
    fail("the upstream target has a dot segment: " + upstream_target, written);
  }
  if (upstream_target.empty() || upstream_target.front() != '/' ||
      upstream_target.find_first_of(" \r\n#") != std::string::npos) {
    fail("the upstream target is not origin-form: " + upstream_target, written);
  }
}

}  // namespace
}  // namespace turnpike::proxy

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turnpike::proxy;
  Parser parser;
  parser.eager(false);
  parser.header_limit(32 * 1024);  // ProxyOptions::max_header_bytes
  boost::system::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;
  rewriteAndCheck(parser.get(), parser, size % 2 == 1);
  return 0;
}
