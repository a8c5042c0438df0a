// Key authentication and the consumer-group ACL: pure functions of a pinned Snapshot, the matched
// route and the request's headers and query, so that they are tested without a socket.
//
//   KeyAuthResult auth = policy::authenticate(*pinned, *match.route, view.headers, query, now);
//   switch (auth.outcome) {
//     case AuthOutcome::kMissing: case AuthOutcome::kUnknown: case AuthOutcome::kExpired:
//       return answer(401);  // with WWW-Authenticate: ApiKey
//     default: break;
//   }
//   const CompiledConsumer* consumer = auth.entry ? auth.entry->consumer : nullptr;
//   if (!policy::allowedByGroups(*match.route, consumer)) return answer(403);
//   if (match.route->def->auth.hide_credentials) {
//     if (!auth.found_in_header.empty()) upstream_headers.erase(auth.found_in_header);
//     if (!auth.found_in_query.empty()) query = removeQueryParameter(query, auth.found_in_query);
//   }
//
// THREAD: pure; any thread (a VerifiedKeys is one thread's). OWNERSHIP: every pointer and view
// in a result points into the Snapshot (entries, key names) and lives as long as it. COST:
// authenticate() scans the headers once per key name and the query once per key name, then
// either finds the key among the worker's VerifiedKeys (one hash-map lookup) or hashes it
// (SHA-256, about a microsecond with OpenSSL's bookkeeping) and looks the digest up.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/compiled_consumer.h"
#include "proxy/compiled_route.h"
#include "proxy/request_view.h"
#include "proxy/snapshot.h"
#include "proxy/string_map.h"

namespace turnpike::proxy::policy {

// The keys one worker has found in one snapshot, by the key as presented, so that a caller's
// next request skips the SHA-256:
//
//   const KeyEntry* entry = worker.verifiedKeys().find(*pinned, presented);
//
// Only keys the snapshot holds are remembered: an unknown key is hashed every time, so random
// keys cannot grow the table. It holds at most `capacity` keys and starts over when full, and it
// forgets everything when a newer snapshot is used (a revoked key is never found again). A
// request still on an older snapshot bypasses it. Keys compare in constant time for their length.
// The plaintext keys stay in the worker's memory while remembered (never on disk), as they do in
// its request buffers. THREAD: one worker's; not shared.
class VerifiedKeys {
 public:
  static constexpr std::size_t kDefaultCapacity = 4096;
  explicit VerifiedKeys(std::size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  // Snapshot::findKey(model::sha256Hex(presented)), remembered when found.
  const KeyEntry* find(const Snapshot& snapshot, std::string_view presented);
  // Forgets every key unless they belong to `current`.
  void forgetUnless(const Snapshot& current);
  std::size_t size() const { return entries_.size(); }

 private:
  struct ConstantTimeEqual {
    using is_transparent = void;
    bool operator()(std::string_view a, std::string_view b) const noexcept;
  };

  boost::unordered_flat_map<std::string, const KeyEntry*, TransparentStringHash, ConstantTimeEqual>
      entries_;
  uint64_t build_id_ = 0;  // the Snapshot::buildId() entries_ belong to
  std::size_t capacity_;
};

enum class AuthOutcome : uint8_t {
  kNotRequired,    // the route's auth type is none: no credential was looked at
  kAuthenticated,  // a known, unexpired key; KeyAuthResult::entry is set
  kMissing,        // no key under any of the route's key names (or only empty values)
  kUnknown,        // a key was presented but no key in the snapshot has its hash
  kExpired,        // a known key whose expires_at has passed
};

struct KeyAuthResult {
  AuthOutcome outcome = AuthOutcome::kNotRequired;
  const KeyEntry* entry = nullptr;  // set for kAuthenticated only
  // Where the presented key came from (for hide_credentials), whatever the outcome; views of the
  // route's key_names. Empty when none was found (at most one of the two is set).
  std::string_view found_in_header;
  std::string_view found_in_query;
};

// Authenticates a request for `route`. Auth type none -> kNotRequired. api_key: looks in the
// headers named by route.def->auth.key_names first (in order; names compare case-insensitively;
// the first occurrence of a field counts), then in the query string under the same names (first
// occurrence; names compare exactly); the first non-empty value wins (an empty value counts as
// absent). A query value is percent-decoded ("%2B" -> "+"; '+' stays '+') before hashing, so a
// key with reserved characters can be sent encoded; header values are taken as they are. The key
// is hashed once (model::sha256Hex) and looked up with Snapshot::findKey(), or found in
// `verified` when given. A key is expired when now_unix >= expires_at.
[[nodiscard]] KeyAuthResult authenticate(const Snapshot& snapshot, const CompiledRoute& route,
                                         const HeaderView& headers, std::string_view query,
                                         int64_t now_unix, VerifiedKeys* verified = nullptr);

// The ACL step. Without allow_groups any caller passes (authenticate() has already refused a
// route's unauthenticated callers). With allow_groups, `consumer` must be in at least one of them
// (exact, case-sensitive names); nullptr (no consumer: the route has no auth) never is, so a
// route with allow_groups but auth none refuses every request, like Kong's ACL plugin without an
// authentication plugin. The caller answers 403 (API.md); it is not a build error, so that one
// such route cannot stop the rest of a configuration from being served. No allocation.
[[nodiscard]] bool allowedByGroups(const CompiledRoute& route, const CompiledConsumer* consumer);

// Calls `fn(parameter, name)` for each '&'-separated parameter of a raw `query` (empty ones
// included) until it returns true; returns whether it did. The name is what precedes the first
// '=' (all of the parameter when there is none), not decoded.
template <class Fn>
bool forEachQueryParameter(std::string_view query, Fn&& fn) {
  std::size_t start = 0;
  while (true) {
    std::size_t end = query.find('&', start);
    std::string_view parameter =
        query.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (fn(parameter, parameter.substr(0, parameter.find('=')))) return true;
    if (end == std::string_view::npos) return false;
    start = end + 1;
  }
}

// The query string without any parameter named `name` (for hide_credentials):
// "a=1&apikey=x&b=2" -> "a=1&b=2". Parameters are split on '&' only; a parameter's name is what
// precedes its first '=' (all of it when there is no '='), compared exactly and NOT decoded: a
// percent-encoded name ("api%6Bey=x") is neither matched here nor by authenticate(). Everything
// else is kept byte for byte, empty segments ("a&&b") included.
[[nodiscard]] std::string removeQueryParameter(std::string_view query, std::string_view name);

// The raw (not decoded) value of the first parameter named `name`, with the same name rules as
// removeQueryParameter(); "" for "name=" and for a bare "name". nullopt when absent.
[[nodiscard]] std::optional<std::string_view> queryParameter(std::string_view query,
                                                             std::string_view name);

}  // namespace turnpike::proxy::policy
