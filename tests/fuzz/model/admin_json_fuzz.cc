// Fuzzes the admin API's body decoding: arbitrary bytes as the request body of every entity
// kind, through the functions the handlers call (admin/entity_handlers.cc, config_handlers.cc).
//
// The body is first handled as admin/handler_support.cc does (blank, too deep, not JSON, not an
// object: a 400 before any model code runs). Then, for services, routes, consumers, rate-limit
// policies, certificates, new and exported API keys and the whole config (PUT /config), and for
// every kind also as a PATCH (merge_patch onto a valid entity's JSON, then parse), the
// invariants are:
//   - the parse function neither crashes nor throws (the admin API would answer 500, and
//     model/json_reader.h promises that nothing throws);
//   - a refusal is ErrorCode::kInvalid with at least one FieldError, each naming a field (only a
//     member the client itself named "" may come back as the field "") and saying what is wrong;
//   - an accepted value serializes (toJson) to JSON that parses again to the same value, and
//     that JSON dumps as the admin API dumps it. A certificate serializes in its stored form
//     (with key_encrypted); its plain key is never serialized, so it is left out of the
//     comparison.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "model/api_key.h"
#include "model/certificate.h"
#include "model/config.h"
#include "model/consumer.h"
#include "model/json_depth.h"
#include "model/rate_limit_policy.h"
#include "model/result.h"
#include "model/route.h"
#include "model/service.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

// The body as parseJsonObjectBody() accepts it; nullopt where the admin API answers 400 first.
std::optional<json> objectBody(std::string_view text) {
  if (text.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::nullopt;
  if (jsonNestsDeeperThan(text, kMaxJsonDepth)) return std::nullopt;
  try {
    json body = json::parse(text);
    if (!body.is_object()) return std::nullopt;
    return body;
  } catch (const json::exception&) {
    return std::nullopt;
  }
}

[[noreturn]] void fail(std::string_view kind, const std::string& what) {
  std::fprintf(stderr, "admin_json_fuzz: %.*s: %s\n", static_cast<int>(kind.size()), kind.data(),
               what.c_str());
  std::abort();
}

// A member the client named "" is reported as an unknown field named "", as written; every
// other error must name its field.
void checkRefusal(std::string_view kind, const json& body, const Error& error) {
  if (error.code != ErrorCode::kInvalid) fail(kind, "refused with a code other than kInvalid");
  if (error.message.empty()) fail(kind, "refused without a message");
  if (error.fields.empty()) fail(kind, "refused without a field: " + error.message);
  for (const FieldError& field : error.fields) {
    if (field.field.empty() && !body.contains("")) {
      fail(kind, "an error names no field: " + field.message);
    }
    if (field.message.empty()) fail(kind, "an error on " + field.field + " has no message");
  }
}

// Parses `body` with `parse`; on success serializes with `to_json` and checks the round trip.
// Returns the accepted value's JSON (for the PATCH pass), or nullopt.
template <class Parse, class ToJson>
std::optional<json> check(std::string_view kind, const json& body, Parse parse, ToJson to_json) {
  try {
    auto parsed = parse(body);
    if (!parsed) {
      checkRefusal(kind, body, parsed.error());
      return std::nullopt;
    }
    json out = to_json(*parsed);
    (void)out.dump(-1, ' ', false, json::error_handler_t::replace);
    auto again = parse(out);
    if (!again) {
      fail(kind, "toJson() of an accepted value is refused: " + again.error().message + "\n  " +
                     out.dump(-1, ' ', false, json::error_handler_t::replace));
    }
    if (!(*again == *parsed)) {
      fail(kind, "round trip changed the value:\n  " +
                     out.dump(-1, ' ', false, json::error_handler_t::replace) + "\n  " +
                     to_json(*again).dump(-1, ' ', false, json::error_handler_t::replace));
    }
    return out;
  } catch (const std::exception& e) {
    fail(kind, std::string("exception escaped: ") + e.what());
  }
}

// A certificate as the store parses writes (the key may be left out), without its plain key:
// no JSON form carries that, so the round trip cannot compare it.
Result<Certificate> parseCertificateWithoutPlainKey(const json& body) {
  Result<Certificate> parsed = parseCertificate(body, /*key_required=*/false);
  if (parsed) parsed->key_pem.clear();
  return parsed;
}

// POST /certificates' own rule (a key is required) on top: only refusal and no-throw.
void checkCertificateWithKey(const json& body) {
  try {
    auto parsed = parseCertificate(body);
    if (!parsed) checkRefusal("certificate with key", body, parsed.error());
  } catch (const std::exception& e) {
    fail("certificate with key", std::string("exception escaped: ") + e.what());
  }
}

// A new API key has no JSON form of its own; only refusal and no-throw are checked.
void checkNewApiKey(const json& body) {
  try {
    auto parsed = parseNewApiKey(body);
    if (!parsed) checkRefusal("new api key", body, parsed.error());
  } catch (const std::exception& e) {
    fail("new api key", std::string("exception escaped: ") + e.what());
  }
}

// PATCH: the client's body is a merge patch on the stored entity's JSON (entity_handlers.cc).
// `current` is that JSON: toJson() of a valid entity.
template <class Parse, class ToJson>
void checkPatch(std::string_view kind, const json& current, const json& patch, Parse parse,
                ToJson to_json) {
  json merged = current;
  try {
    merged.merge_patch(patch);
  } catch (const std::exception& e) {
    fail(kind, std::string("merge_patch threw: ") + e.what());
  }
  check(kind, merged, parse, to_json);
}

const json& validService() {
  static const json value = toJson(*parseService(json::parse(R"({
    "id": "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a01", "name": "orders",
    "targets": [{"url": "http://10.0.0.1:8080", "weight": 100}],
    "load_balancing": "round_robin", "tags": ["a"]})")));
  return value;
}

const json& validRoute() {
  static const json value = toJson(*parseRoute(json::parse(R"({
    "id": "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a02", "name": "orders-api",
    "service": "orders", "hosts": ["api.example.com"], "paths": ["/orders/{id}"],
    "methods": ["GET"], "headers": {"x-version": ["1"]}})")));
  return value;
}

const json& validConsumer() {
  static const json value = toJson(*parseConsumer(json::parse(R"({
    "id": "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a03", "username": "alice@example.com",
    "custom_id": "c-1", "groups": ["gold"], "rate_limit_policies": ["per-minute"]})")));
  return value;
}

const json& validPolicy() {
  static const json value = toJson(*parseRateLimitPolicy(json::parse(R"({
    "id": "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a04", "name": "per-minute", "limit": 100,
    "window_s": 60, "algorithm": "sliding_window", "key_by": "consumer"})")));
  return value;
}

// A self-signed EC P-256 certificate for api.example.com, valid until 2126 (its key is not
// kept: the PATCH pass leaves the key to the store, as the admin API does).
constexpr std::string_view kCertificatePem = R"(-----BEGIN CERTIFICATE-----
MIIBizCCATGgAwIBAgIUBKQa2JX1aZHjkAKbBMY/X3r9SRowCgYIKoZIzj0EAwIw
GjEYMBYGA1UEAwwPYXBpLmV4YW1wbGUuY29tMCAXDTI2MTIwNzIxMTgxNloYDzIx
MjYxMTEzMjExODE2WjAaMRgwFgYDVQQDDA9hcGkuZXhhbXBsZS5jb20wWTATBgcq
hkjOPQIBBggqhkjOPQMBBwNCAARM+kMxYuT9LPCwf+36p1FUweYM0KnNuzEpVK8f
0iE01CFEIyrk5AanFp/H8WlBeC7H5t5WbScrQJ+o8svM6u0Xo1MwUTAdBgNVHQ4E
FgQURHfxAqC68x/qG8X6P8/16BzMDd8wHwYDVR0jBBgwFoAURHfxAqC68x/qG8X6
P8/16BzMDd8wDwYDVR0TAQH/BAUwAwEB/zAKBggqhkjOPQQDAgNIADBFAiAw1pdF
zVVKEGj9biMUZChozdTVwdo34EdSlJhIzyqkmAIhAN8UYKHX1Y8WAPxGkM0hGoo+
C7AB/TjShcKHLSwCLOMi
-----END CERTIFICATE-----
)";

const json& validCertificate() {
  static const json value = toJson(
      *parseCertificate(
          {{"id", "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a06"},
           {"name", "example-com"},
           {"cert", std::string(kCertificatePem)},
           {"snis", {"api.example.com", "*.example.org"}},
           {"key_encrypted", "v1:0123456789abcdef:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}},
          /*key_required=*/false),
      /*with_sealed_key=*/true);
  return value;
}

}  // namespace
}  // namespace turnpike::model

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace turnpike::model;
  std::optional<json> body =
      objectBody(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!body) return 0;

  auto service_json = [](const Service& e) { return toJson(e); };
  auto route_json = [](const Route& e) { return toJson(e); };
  auto consumer_json = [](const Consumer& e) { return toJson(e); };
  auto policy_json = [](const RateLimitPolicy& e) { return toJson(e); };
  auto key_json = [](const ApiKey& e) { return toJson(e, /*with_hash=*/true); };
  auto certificate_json = [](const Certificate& e) { return toJson(e, /*with_sealed_key=*/true); };
  auto config_json = [](const Config& e) { return toJson(e); };

  check("service", *body, parseService, service_json);
  check("route", *body, parseRoute, route_json);
  check("consumer", *body, parseConsumer, consumer_json);
  check("rate limit policy", *body, parseRateLimitPolicy, policy_json);
  check("exported api key", *body, parseExportedApiKey, key_json);
  check("certificate", *body, parseCertificateWithoutPlainKey, certificate_json);
  checkCertificateWithKey(*body);
  checkNewApiKey(*body);
  // PUT /config ignores "version"; the round trip compares everything else.
  check(
      "config", *body,
      [](const json& j) {
        auto config = parseConfig(j);
        if (config) {
          config->version = 0;
          for (Certificate& c : config->certificates) c.key_pem.clear();
        }
        return config;
      },
      config_json);

  checkPatch("service patch", validService(), *body, parseService, service_json);
  checkPatch("route patch", validRoute(), *body, parseRoute, route_json);
  checkPatch("consumer patch", validConsumer(), *body, parseConsumer, consumer_json);
  checkPatch("rate limit policy patch", validPolicy(), *body, parseRateLimitPolicy, policy_json);
  checkPatch("certificate patch", validCertificate(), *body, parseCertificateWithoutPlainKey,
             certificate_json);
  return 0;
}
