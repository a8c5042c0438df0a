// The optional parts of a Route that reshape what passes through it (API.md, "Optional route
// fields for transformation and aggregation"):
//
//   "request_transform":  {"set_headers": {"x-api-version": "2"}, "remove_headers": ["cookie"],
//                          "rename_headers": {"x-old": "x-new"}, "set_query": {"v": "2"},
//                          "remove_query": ["debug"],
//                          "rewrite_path": {"match": "^/api/v1/(.*)$", "replace": "/v2/\\1"}}
//   "response_transform": {"set_headers": {...}, "remove_headers": ["server"],
//                          "json": {"allow": ["id", "items.name"], "deny": ["internal"],
//                                   "rename": {"usr": "user"}, "wrap": "data"},
//                          "max_body_bytes": 1048576}
//   "aggregate":          {"backends": [{"service": "users", "path": "/users/{id}",
//                                        "method": "GET", "group": "user", "required": true,
//                                        "timeout_ms": 500, "json": {...}}, ...],
//                          "timeout_ms": 10000}
//
// Order of the request steps: remove_headers, rename_headers, set_headers; remove_query,
// set_query; rewrite_path runs on the path after strip_path. Response: remove_headers,
// set_headers, then the JSON body (allow, deny, rename, wrap).
// Header names are stored lower case. Headers Turnpike owns (framing, hop-by-hop, Host,
// X-Forwarded-*, X-Consumer-*, X-Request-Id) cannot be set, removed or renamed.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace turnpike::model {

// How a JSON body is reshaped, in this order: `allow` keeps only the listed dot paths (empty:
// everything), `deny` drops the listed dot paths, `rename` renames the member a dot path names
// (the new name replaces the last segment), `wrap` puts the result under one key. A dot path
// walks objects; an array of objects on the way applies the rest of the path to each element.
struct JsonShape {
  std::vector<std::string> allow;
  std::vector<std::string> deny;
  std::map<std::string, std::string> rename;  // dot path -> new member name
  std::string wrap;                           // empty: not wrapped

  bool operator==(const JsonShape&) const = default;
};

struct PathRewrite {
  std::string match;    // RE2, searched in the path (anchor it with ^...$ to match it whole)
  std::string replace;  // "\\1".."\\9" insert capture groups; starts with '/'

  bool operator==(const PathRewrite&) const = default;
};

struct RequestTransform {
  std::map<std::string, std::string> set_headers;     // name -> value (replaces every value)
  std::vector<std::string> remove_headers;            // names
  std::map<std::string, std::string> rename_headers;  // old name -> new name
  std::map<std::string, std::string> set_query;       // parameter -> value (raw, encoded on use)
  std::vector<std::string> remove_query;              // parameter names (raw)
  std::optional<PathRewrite> rewrite_path;

  bool operator==(const RequestTransform&) const = default;
};

inline constexpr int64_t kDefaultTransformBodyCap = 1 << 20;
inline constexpr int64_t kMaxTransformBodyCap = 64 << 20;

struct ResponseTransform {
  std::map<std::string, std::string> set_headers;
  std::vector<std::string> remove_headers;
  std::optional<JsonShape> json;
  // JSON bodies larger than this pass untouched (so do bodies that are not JSON).
  int64_t max_body_bytes = kDefaultTransformBodyCap;

  bool operator==(const ResponseTransform&) const = default;
};

inline constexpr int kDefaultAggregateTimeoutMs = 10000;
inline constexpr std::size_t kMaxAggregateBackends = 16;

struct AggregateBackend {
  std::string service;  // on input: service id or name; as stored and returned: the service id
  std::string path;     // origin-form, "{param}" segments filled from the route's path params
  std::string method = "GET";
  std::string group;  // empty: the answer is shallow-merged into the top level
  bool required = false;
  int timeout_ms = 0;  // 0: the aggregate's timeout_ms
  std::optional<JsonShape> json;

  bool operator==(const AggregateBackend&) const = default;
};

struct Aggregate {
  std::vector<AggregateBackend> backends;       // 1..16, merged in this order
  int timeout_ms = kDefaultAggregateTimeoutMs;  // bound on the whole fan-out

  bool operator==(const Aggregate&) const = default;
};

// The API forms (every field, defaults included).
nlohmann::json toJson(const JsonShape& shape);
nlohmann::json toJson(const RequestTransform& transform);
nlohmann::json toJson(const ResponseTransform& transform);
nlohmann::json toJson(const Aggregate& aggregate);

// Private to model/ (route.cc): each reads its member of a route body, recording every problem
// under the field name the client wrote ("request_transform.rewrite_path.match"). `out` is
// left empty when the member is absent or null.
class JsonReader;
void readRequestTransform(JsonReader& route, std::optional<RequestTransform>* out);
void readResponseTransform(JsonReader& route, std::optional<ResponseTransform>* out);
void readAggregate(JsonReader& route, std::optional<Aggregate>* out);

// The names a backend path template uses: "/users/{id}/x/{b}" -> {"id", "b"}.
std::vector<std::string> templateParams(std::string_view path);

}  // namespace turnpike::model
