// A route's request_transform and response_transform (model/route_transform.h) compiled for the
// data plane: header edits as lower-case name lists, the path rewrite as a compiled RE2, the JSON
// shape as path tries.
//
//   // SnapshotBuilder, once per route:
//   auto request = CompiledRequestTransform::compile(*route.request_transform);
//   // per request (http1/session.cc):
//   query = t.rewriteQuery(query);                 // remove_query, then set_query
//   appendUpstreamTarget(match, path, query, target);
//   t.rewritePath(target);                         // after strip_path; the query is kept
//   appendUpstreamRequestHead(fields, {..., .edits = &t.headers}, head);
//
// THREAD: immutable after compile(); any number of workers use one at once without a lock.
// COST: a route without transforms has none of these (null pointers in CompiledRoute) and pays
// one pointer test per step.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/result.h"
#include "model/route_transform.h"
#include "proxy/policy/json_shape.h"

namespace re2 {
class RE2;
}

namespace turnpike::proxy::policy {

// set/remove/rename of header fields for one direction, applied in that order while the head
// is written: a field named in `remove` or `set` is dropped (set replaces every value), one
// named in `rename` is written under its new name, and the `set` fields are appended.
struct HeaderEdits {
  std::vector<std::string> drop;                            // lower case: remove + set names
  std::vector<std::pair<std::string, std::string>> rename;  // lower-case old -> new name
  std::vector<std::pair<std::string, std::string>> set;     // name -> value

  enum class Action : uint8_t { kKeep, kDrop, kRename };

  bool empty() const { return drop.empty() && rename.empty() && set.empty(); }
  // What becomes of a received field named `name` (case-insensitive); for kRename, `*new_name`
  // is the name to write it under.
  Action decide(std::string_view name, std::string_view* new_name) const;
};

HeaderEdits compileHeaderEdits(const std::map<std::string, std::string>& set,
                               const std::vector<std::string>& remove,
                               const std::map<std::string, std::string>& rename = {});

class CompiledRequestTransform {
 public:
  CompiledRequestTransform();
  ~CompiledRequestTransform();
  CompiledRequestTransform(const CompiledRequestTransform&) = delete;
  CompiledRequestTransform& operator=(const CompiledRequestTransform&) = delete;

  // Fails only when the rewrite pattern does not compile (the model already checked it).
  static model::Result<std::shared_ptr<const CompiledRequestTransform>> compile(
      const model::RequestTransform& transform);

  const HeaderEdits& headers() const { return headers_; }
  bool editsQuery() const { return !remove_query_.empty() || !set_query_.empty(); }
  // The raw query with remove_query's parameters dropped (names compared exactly, as received)
  // and set_query's replaced or appended, percent-encoded.
  std::string rewriteQuery(std::string_view query) const;
  // Rewrites the path part of an origin-form `target` ("/path?query") in place: the first match
  // of the pattern is replaced. Returns false when the pattern did not match (nothing changed).
  // A result that does not start with '/' gets one.
  bool rewritePath(std::string& target) const;

 private:
  HeaderEdits headers_;
  std::vector<std::string> remove_query_;
  std::vector<std::pair<std::string, std::string>> set_query_;  // encoded name, encoded value
  std::unique_ptr<re2::RE2> path_pattern_;                      // null: no rewrite_path
  std::string path_replace_;
};

class CompiledResponseTransform {
 public:
  static std::shared_ptr<const CompiledResponseTransform> compile(
      const model::ResponseTransform& transform);

  const HeaderEdits& headers() const { return headers_; }
  // Null when the body passes untouched whatever it is.
  const CompiledJsonShape* json() const { return json_.empty() ? nullptr : &json_; }
  uint64_t maxBodyBytes() const { return max_body_bytes_; }

 private:
  HeaderEdits headers_;
  CompiledJsonShape json_;
  uint64_t max_body_bytes_ = 0;
};

// Reshapes a JSON body: parses `body` (when it is not too deep), applies `shape` and writes the
// result back. Returns false, leaving `body` alone, when it is not valid JSON.
bool reshapeJsonBody(const CompiledJsonShape& shape, std::string& body);

// Percent-encodes everything but RFC 3986 unreserved characters.
void appendPercentEncoded(std::string& out, std::string_view text);

// "%XX" sequences decoded; a '%' not followed by two hex digits is kept as it is. '+' stays a
// '+' (it is a space only in form encoding).
std::string percentDecode(std::string_view text);

}  // namespace turnpike::proxy::policy
