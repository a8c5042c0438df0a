// PathPattern: one compiled entry of Route::paths.
//
// Three kinds, decided by the text:
//   "/orders"             literal: equal to the request path (exact) or a segment-boundary prefix
//                         of it: "/orders" matches "/orders", "/orders/", "/orders/7", never
//                         "/ordersX"; "/orders/" matches "/orders/" and "/orders/7", not "/orders".
//                         "/" matches every path.
//   "/users/{id}/orders"  template: matches a path with the same number of segments whose literal
//                         segments are equal and whose {param} segments are non-empty; it is not
//                         a prefix ("/users/7/orders/1" does not match).
//   "~/v[0-9]+/items"     RE2 regex (without the '~'), anchored at the start of the path only.
// Paths are compared as received: case-sensitive, not percent-decoded, no dot-segment removal.
//
// Ownership: a PathPattern keeps string_views into the `source` string given to compile(); that
// string must outlive the pattern and must not move (the Snapshot's model::Config owns it).
// Thread: immutable after compile(); RE2 matching is thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.h"

namespace re2 {
class RE2;
}

namespace turnpike::proxy {

// How a request path matched a route, best first. This is the order of path precedence.
enum class PathMatchKind : uint8_t {
  kExact,     // the request path equals a literal route path
  kTemplate,  // segment match of a {param} template
  kPrefix,    // segment-boundary prefix of a literal route path (longest wins)
  kRegex,     // RE2 regex (tried after all of the above, by route priority)
  kAny,       // the route has no paths, or its path is "/" (catch-all)
};
std::string_view toString(PathMatchKind kind);

// A path parameter of a match: the {name} of a template or the named group of a regex, and the
// raw (not percent-decoded) value from the request path. Views into the pattern's source and the
// request path.
struct PathParam {
  std::string_view name;
  std::string_view value;

  bool operator==(const PathParam&) const = default;
};

struct PathSegment {
  std::string_view text;  // the literal segment, or the parameter name without braces
  bool is_param = false;
};

class PathPattern {
 public:
  enum class Kind : uint8_t { kLiteral, kTemplate, kRegex };

  // Compiles one route path. Errors (no field name; the builder adds it): not starting with '/'
  // or "~/", malformed or duplicate {param}, regex RE2 rejects.
  static model::Result<PathPattern> compile(const std::string& source);

  PathPattern(PathPattern&&) noexcept;
  PathPattern& operator=(PathPattern&&) noexcept;
  ~PathPattern();

  Kind kind() const { return kind_; }
  std::string_view source() const { return source_; }

  // kLiteral: the path itself. True for the literal "/" (a catch-all).
  bool isCatchAll() const { return kind_ == Kind::kLiteral && source_ == "/"; }

  // kTemplate: the segments after the leading '/' ("/a/{b}/" -> "a", {"b"}, ""). Empty for
  // other kinds.
  const std::vector<PathSegment>& segments() const { return segments_; }

  // kRegex: the compiled expression and its named groups ("" for unnamed), index = group number
  // (index 0 is the whole match). Empty when the expression has no named group.
  const re2::RE2* regex() const { return regex_.get(); }
  const std::vector<std::string>& regexGroupNames() const { return group_names_; }

  // kRegex: the length of the match anchored at the start of `path`, if any. No allocation.
  std::optional<std::size_t> matchRegex(std::string_view path) const;

  // Appends the parameters of a match of this pattern against `path`: kTemplate: one per
  // {param} (REQUIRES: the template matched `path`); kRegex: one per named group that took part in
  // the match. Allocates only when there is something to append.
  void appendParams(std::string_view path, std::vector<PathParam>& out) const;

  // Reference semantics of one pattern against one path (explain, tests; may be slow).
  struct Hit {
    PathMatchKind kind;
    std::size_t matched_length;  // bytes of the path that strip_path removes
  };
  std::optional<Hit> match(std::string_view path) const;

 private:
  PathPattern() = default;

  Kind kind_ = Kind::kLiteral;
  std::string_view source_;
  std::vector<PathSegment> segments_;
  std::unique_ptr<const re2::RE2> regex_;
  std::vector<std::string> group_names_;
};

// Calls fn(segment) for each segment of `path` after its leading '/': "/" -> {""},
// "/a/b/" -> {"a", "b", ""}. REQUIRES: path starts with '/'.
template <class Fn>
void forEachSegment(std::string_view path, Fn&& fn) {
  std::string_view rest = path.substr(1);
  while (true) {
    std::size_t slash = rest.find('/');
    fn(rest.substr(0, slash));
    if (slash == std::string_view::npos) return;
    rest.remove_prefix(slash + 1);
  }
}

}  // namespace turnpike::proxy
