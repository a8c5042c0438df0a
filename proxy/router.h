// Router: picks the route that serves a request. Compiled once per Snapshot from its routes, then
// read concurrently by every worker.
//
//   const Router& router = snapshot->router();
//   RouteMatch m = router.match({method, host, path, HeaderView::ofFields(fields)});
//   if (!m) return notFound();
//   std::string target = upstreamTarget(m, path, query);  // strip_path applied
//
// PRECEDENCE (the documented contract, pinned by router_test.cc's table):
//
//  1. Host tier. Host names compare case-insensitively; a trailing dot is ignored; the Host
//     header's port is ignored unless the route host names a port.
//       a. exact host with the request's port   "api.example.com:8443"
//       b. exact host                           "api.example.com"
//       c. wildcard, longest suffix first       "*.eu.example.org" before "*.example.org"
//          (at equal suffix, the one naming the port first). "*.example.org" matches any depth
//          ("a.b.example.org") but not "example.org".
//       d. routes without hosts
//  2. Path tier, within the best host tier that has a match:
//       a. exact: the path equals a literal route path ("/orders" for "/orders")
//       b. template: "/users/{id}" matches by segment, the whole path; among templates, at the
//          first segment where they differ a literal beats a {param} ("/users/me" beats
//          "/users/{id}", "/a/b/{x}" beats "/a/{y}/c")
//       c. prefix: a literal route path that is a segment-boundary prefix ("/orders" matches
//          "/orders/7" and "/orders/", never "/ordersX"; "/orders/" matches "/orders/7"); the
//          longest prefix (in bytes) first
//       d. regex ("~/v[0-9]+/"), anchored at the start of the path
//       e. catch-all: routes without paths and routes with the path "/" (except that "/" is an
//          exact match for the request path "/")
//  3. Among candidates of the same host and path precedence: the route's methods must include
//     the request method (no methods = any), and every header condition must hold (the header is
//     present with one of the listed values; names case-insensitive, values exact). Of those that
//     pass: higher `priority`, then more constraints (a method list counts one, each header one),
//     then older `created_at`, then smaller `id` (byte order).
//  4. A candidate that fails its method/header filters does not block anything: matching falls
//     through to the next candidate in the order above, across path and host tiers (an exact-path
//     route for POST does not stop a GET from reaching a prefix route; a host route that cannot
//     serve the request falls through to wildcard and host-less routes).
//
// Paths are compared as received: case-sensitive, not percent-decoded, no dot-segment removal
// (normalizing is the network layer's job, before matching).
//
// COST: match() does a bounded number of hash lookups: 2 exact-host keys, 2 per label of the
// Host for wildcards, and per host bucket tried: 1 for the exact path, 1 per segment down the
// template trie (plus backtracking to {param} branches), and up to 2 per '/' of the path for
// prefixes (skipped at depths where the bucket has no literal route). It then scans only the
// candidates that share one precedence slot. None of this grows with the number of routes.
// Regex routes are the exception: those of a host bucket are tried one by one, last.
// match() allocates only RouteMatch::params, and only when a template or a regex with named
// groups wins. explain() is slow (linear in routes, allocates) and meant for the admin API.
//
// THREAD: immutable after build(); match() and explain() may be called from any number of
// threads at once. OWNERSHIP: a Router points into the CompiledRoute array it was built from (the
// Snapshot's), which must outlive it and not move.
#pragma once

#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/compiled_route.h"
#include "proxy/path_pattern.h"
#include "proxy/request_view.h"
#include "proxy/string_map.h"

namespace turnpike::proxy {

enum class HostMatchKind : uint8_t { kExact, kWildcard, kAny };
std::string_view toString(HostMatchKind kind);

// The outcome of Router::match(). Views (params) point into the route definitions (alive with
// the Snapshot) and into the request's path (alive with the request).
struct RouteMatch {
  const CompiledRoute* route = nullptr;  // null: no route serves the request (404)
  const PathPattern* path = nullptr;     // the route path that matched; null for a path-less route
  HostMatchKind host_kind = HostMatchKind::kAny;
  PathMatchKind path_kind = PathMatchKind::kAny;
  // Bytes at the start of the request path that the route path matched: what strip_path removes.
  // exact/template: the whole path; prefix: the route path's length; regex: the match; any: 0.
  std::size_t matched_length = 0;
  std::vector<PathParam> params;  // {param} values or named regex groups, raw (not decoded)

  explicit operator bool() const { return route != nullptr; }
};

// The request target to send upstream: the request path, minus the matched prefix when the route
// has strip_path (at least "/" remains; a leading '/' is added when the cut left none), plus
// "?query" when the query is non-empty. Targets have no base path in our model. Appends to `out`
// so that the caller can reuse a buffer.
void appendUpstreamTarget(const RouteMatch& match, std::string_view path, std::string_view query,
                          std::string& out);
std::string upstreamTarget(const RouteMatch& match, std::string_view path, std::string_view query);

// Why a route did or did not serve a request (GET /routes/match).
enum class Verdict : uint8_t {
  kSelected,          // this route serves the request
  kLostOnPrecedence,  // it matches, but `lost_to` comes first
  kHostMismatch,
  kPathMismatch,
  kMethodMismatch,
  kHeaderMismatch,
};
std::string_view toString(Verdict verdict);

struct RouteVerdict {
  const CompiledRoute* route = nullptr;
  Verdict verdict = Verdict::kHostMismatch;
  std::string detail;  // one sentence for a human: "header x-version: got \"1\", want \"2\""
  const CompiledRoute* lost_to = nullptr;  // kLostOnPrecedence: the route that won
  // When host and path matched (kSelected, kLostOnPrecedence, kMethodMismatch, kHeaderMismatch):
  // the best-matching host pattern (null: the route has no hosts) and path (null: no paths).
  const HostPattern* host = nullptr;
  const PathPattern* path = nullptr;
  HostMatchKind host_kind = HostMatchKind::kAny;
  PathMatchKind path_kind = PathMatchKind::kAny;
};

struct MatchExplanation {
  RouteMatch match;                  // what match() returns for the request
  std::vector<RouteVerdict> routes;  // one per route, in Snapshot::routes() order
};

class Router {
 public:
  // A router without routes: matches nothing.
  Router();
  ~Router();
  Router(Router&&) noexcept;
  Router& operator=(Router&&) noexcept;
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Indexes `routes` (already compiled and validated by SnapshotBuilder; cannot fail). Cost:
  // O(routes × hosts × paths × segments) plus a sort of the index entries.
  static Router build(std::span<const CompiledRoute> routes);

  // The route that serves `request` by the precedence above. No lock; see COST.
  RouteMatch match(const RequestView& request) const;

  // For every route, whether and why it matches `request`. Computed independently of match()
  // from the same rules (a cross-check in tests); slow, allocates; not for the request path.
  MatchExplanation explain(const RequestView& request) const;

  std::size_t routeCount() const { return routes_.size(); }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  static constexpr uint16_t kNoPath = UINT16_MAX;
  static constexpr uint8_t kHasMethods = 1;
  static constexpr uint8_t kHasHeaders = 2;

  // One route path registered in one precedence slot (8 bytes).
  struct Entry {
    uint32_t route;  // index into routes_
    uint16_t path;   // index into the route's paths, kNoPath for a path-less route
    uint8_t flags;   // kHasMethods | kHasHeaders: which filters to run
  };
  // A run of entries_ with the same precedence, sorted by route order (priority...).
  struct Range {
    uint32_t begin = 0;
    uint32_t end = 0;
  };
  // A node of a bucket's template trie (templates only: literal paths live in exact_paths_).
  struct Node {
    uint32_t param_child = kNone;
    uint32_t templates = kNone;  // list of template routes ending here
  };
  // The routes of one host key (or of no host).
  struct Bucket {
    uint32_t root = kNone;  // template trie root; kNone when the bucket has no template
    uint32_t regex = kNone;
    uint32_t any = kNone;
    // Bit d (d capped at 63): some literal route path in this bucket, other than "/", holds d
    // slashes. Lets the prefix scan skip lengths no route has.
    uint64_t prefix_depths = 0;
  };
  // (node, segment) for trie edges, (bucket, literal path) for literal routes.
  struct SlotKey {
    uint32_t id;
    std::string_view text;
    bool operator==(const SlotKey&) const = default;
  };
  struct SlotKeyHash {
    std::size_t operator()(const SlotKey& key) const;
  };
  using HostMap = StringMap<uint32_t>;
  using SlotMap = boost::unordered_flat_map<SlotKey, uint32_t, SlotKeyHash>;
  // A literal path's list held in its exact_paths_ slot: the first entry itself (most paths
  // have one route) and the range of the others in entries_. Two memory accesses less per
  // request than a list index. While the Builder runs, rest.begin holds the list index
  // (finish() resolves it).
  struct PathSlot {
    Entry first;
    Range rest;
  };
  // (bucket, literal path): a path of up to 16 bytes is held in the key itself, so comparing it
  // touches no memory but the slot (a longer one points into the route's definition). The same
  // size as a SlotKey.
  class LiteralKey {
   public:
    LiteralKey(uint32_t bucket, std::string_view text);
    std::string_view text() const {
      return size_ <= kInline ? std::string_view(inline_, size_) : std::string_view(data_, size_);
    }
    uint32_t bucket() const { return bucket_; }
    bool operator==(const LiteralKey& other) const {
      return bucket_ == other.bucket_ && text() == other.text();
    }

   private:
    static constexpr std::size_t kInline = 16;
    uint32_t bucket_;
    uint32_t size_;
    union {
      const char* data_;
      char inline_[kInline];
    };
  };
  struct LiteralKeyHash {
    std::size_t operator()(const LiteralKey& key) const;
  };
  using PathMap = boost::unordered_flat_map<LiteralKey, PathSlot, LiteralKeyHash>;

  class Builder;

  bool matchHost(const HostMap& map, std::string_view key, HostMatchKind kind,
                 const RequestView& request, RouteMatch& out) const;
  bool matchBucket(uint32_t bucket, const RequestView& request, RouteMatch& out) const;
  bool matchTemplate(uint32_t node, std::string_view rest, const RequestView& request,
                     RouteMatch& out) const;
  bool matchPrefix(const Bucket& bucket, uint32_t bucket_index, const RequestView& request,
                   RouteMatch& out) const;
  const Entry* firstPassing(uint32_t list, const RequestView& request) const;
  const Entry* firstPassing(const Range& range, const RequestView& request) const;
  const Entry* firstPassing(const PathSlot& slot, const RequestView& request) const;
  bool passes(const Entry& entry, const RequestView& request) const;
  void fill(const Entry& entry, PathMatchKind kind, std::size_t matched_length,
            RouteMatch& out) const;

  std::span<const CompiledRoute> routes_;
  HostMap exact_hosts_;     // "api.example.com[:port]" -> bucket
  HostMap wildcard_hosts_;  // ".example.org[:port]" -> bucket
  uint32_t default_bucket_ = kNone;
  std::vector<Bucket> buckets_;
  PathMap exact_paths_;  // (bucket, literal route path) -> entries: exact and prefix matches
  SlotMap edges_;        // (node, literal segment) -> child node, template tries only
  std::vector<Node> nodes_;
  std::vector<Range> lists_;
  std::vector<Entry> entries_;
};

// The order routes take among candidates of equal host and path precedence: higher priority,
// more constraints, older created_at, smaller id. A strict weak order (total for distinct ids).
bool routeOrderLess(const CompiledRoute& a, const CompiledRoute& b);

}  // namespace turnpike::proxy
