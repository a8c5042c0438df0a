#include "proxy/router.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>
#include <optional>
#include <tuple>

#include "proxy/host_pattern.h"

namespace turnpike::proxy {

std::string_view toString(HostMatchKind kind) {
  switch (kind) {
    case HostMatchKind::kExact:
      return "exact";
    case HostMatchKind::kWildcard:
      return "wildcard";
    case HostMatchKind::kAny:
      return "any";
  }
  return "?";
}

std::string_view toString(Verdict verdict) {
  switch (verdict) {
    case Verdict::kSelected:
      return "selected";
    case Verdict::kLostOnPrecedence:
      return "lost_on_precedence";
    case Verdict::kHostMismatch:
      return "host_mismatch";
    case Verdict::kPathMismatch:
      return "path_mismatch";
    case Verdict::kMethodMismatch:
      return "method_mismatch";
    case Verdict::kHeaderMismatch:
      return "header_mismatch";
  }
  return "?";
}

bool routeOrderLess(const CompiledRoute& a, const CompiledRoute& b) {
  if (a.priority() != b.priority()) return a.priority() > b.priority();
  if (a.constraintCount() != b.constraintCount()) return a.constraintCount() > b.constraintCount();
  if (a.def->created_at != b.def->created_at) return a.def->created_at < b.def->created_at;
  if (a.id() != b.id()) return a.id() < b.id();
  return a.index < b.index;
}

void appendUpstreamTarget(const RouteMatch& match, std::string_view path, std::string_view query,
                          std::string& out) {
  std::string_view rest = path;
  if (match.route != nullptr && match.route->stripPath()) {
    rest.remove_prefix(std::min(match.matched_length, rest.size()));
    // A regex match may end inside a segment ("~/v[0-9]+" strips "/v1" of "/v1../x"), and what
    // is left of that segment may be a dot segment: drop it, so the upstream gets a normalized
    // path as with any other route ("/x", not "/../x").
    for (;;) {
      std::string_view segment = rest.substr(rest.starts_with('/') ? 1 : 0);
      segment = segment.substr(0, segment.find('/'));
      if (segment != "." && segment != "..") break;
      rest.remove_prefix(std::min(rest.size(), (rest.starts_with('/') ? 1 : 0) + segment.size()));
    }
  }
  if (rest.empty() || rest.front() != '/') out.push_back('/');
  out.append(rest);
  if (!query.empty()) {
    out.push_back('?');
    out.append(query);
  }
}

std::string upstreamTarget(const RouteMatch& match, std::string_view path, std::string_view query) {
  std::string out;
  out.reserve(path.size() + query.size() + 2);
  appendUpstreamTarget(match, path, query, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Hashing

namespace {

// A fast hash for the short keys of the routing tables (path segments, paths, host names): eight
// bytes per multiply. Good enough for open addressing because boost::unordered_flat_map post-mixes
// hashes that are not marked avalanching; not meant to resist flooding, which needs inserts, and
// only the operator inserts (request data is only ever looked up).
std::size_t hashBytes(std::string_view text) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ull;
  auto mix = [](uint64_t h, uint64_t v) {
    h = (h ^ v) * kMul;
    return h ^ (h >> 29);
  };
  const char* p = text.data();
  std::size_t n = text.size();
  uint64_t h = kMul ^ n;
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t v;
    std::memcpy(&v, p, 8);
    h = mix(h, v);
  }
  if (n >= 4) {
    uint32_t a;
    uint32_t b;
    std::memcpy(&a, p, 4);
    std::memcpy(&b, p + n - 4, 4);
    h = mix(h, (uint64_t{b} << 32) | a);
  } else if (n > 0) {
    auto byte = [&](std::size_t i) { return uint64_t{static_cast<unsigned char>(p[i])}; };
    h = mix(h, byte(0) | (byte(n / 2) << 8) | (byte(n - 1) << 16));
  }
  return static_cast<std::size_t>(h);
}

// The hash of a (node or bucket, text) key, for SlotMap and PathMap alike.
std::size_t keyHash(uint32_t id, std::string_view text) {
  return hashBytes(text) ^ (static_cast<std::size_t>(id) * 0xC2B2AE3D27D4EB4Full);
}

}  // namespace

std::size_t Router::SlotKeyHash::operator()(const SlotKey& key) const {
  return keyHash(key.id, key.text);
}

Router::LiteralKey::LiteralKey(uint32_t bucket, std::string_view text)
    : bucket_(bucket), size_(static_cast<uint32_t>(text.size())) {
  if (text.size() <= kInline) {
    std::memcpy(inline_, text.data(), text.size());
  } else {
    data_ = text.data();
  }
}

std::size_t Router::LiteralKeyHash::operator()(const LiteralKey& key) const {
  return keyHash(key.bucket(), key.text());
}

// ---------------------------------------------------------------------------------------------
// Building

class Router::Builder {
 public:
  explicit Builder(Router& router) : r_(router) {}

  void addRoutes(std::span<const CompiledRoute> routes) {
    r_.routes_ = routes;
    computeRanks();
    reserve(routes);
    std::vector<uint32_t> buckets;
    for (const CompiledRoute& route : routes) {
      uint8_t flags =
          (route.hasMethods() ? kHasMethods : 0) | (route.headers.empty() ? 0 : kHasHeaders);
      buckets.clear();
      if (route.hosts.empty()) {
        if (r_.default_bucket_ == kNone) r_.default_bucket_ = newBucket();
        buckets.push_back(r_.default_bucket_);
      }
      for (const HostPattern& host : route.hosts) {
        HostMap& map =
            host.kind() == HostPattern::Kind::kExact ? r_.exact_hosts_ : r_.wildcard_hosts_;
        auto it = map.find(host.key());
        uint32_t bucket = it != map.end() ? it->second : kNone;
        if (bucket == kNone) {
          bucket = newBucket();
          map.emplace(host.key(), bucket);
        }
        if (std::find(buckets.begin(), buckets.end(), bucket) == buckets.end()) {
          buckets.push_back(bucket);
        }
      }
      for (uint32_t bucket : buckets) addToBucket(bucket, route, flags);
    }
    finish();
  }

 private:
  struct Pending {
    uint32_t list;
    uint32_t rank;
    Entry entry;
  };

  // rank_[route] = position in routeOrderLess order. Sorts compact keys rather than chasing
  // each route's definition in every comparison (the build budget is 100k routes in 250 ms).
  void computeRanks() {
    struct Key {
      int priority;
      int constraints;
      int64_t created_at;
      std::string_view id;
      uint32_t index;
      bool operator<(const Key& o) const {
        if (priority != o.priority) return priority > o.priority;
        if (constraints != o.constraints) return constraints > o.constraints;
        if (created_at != o.created_at) return created_at < o.created_at;
        if (id != o.id) return id < o.id;
        return index < o.index;
      }
    };
    std::vector<Key> keys;
    keys.reserve(r_.routes_.size());
    for (const CompiledRoute& route : r_.routes_) {
      keys.push_back({route.priority(), route.constraintCount(), route.def->created_at, route.id(),
                      route.index});
    }
    std::sort(keys.begin(), keys.end());
    rank_.resize(keys.size());
    for (uint32_t i = 0; i < keys.size(); ++i) rank_[keys[i].index] = i;
  }

  // Sizes the tables once instead of rehashing as they grow.
  void reserve(std::span<const CompiledRoute> routes) {
    std::size_t literal = 0;
    std::size_t segments = 0;
    for (const CompiledRoute& route : routes) {
      std::size_t copies = std::max<std::size_t>(route.hosts.size(), 1);
      for (const PathPattern& path : route.paths) {
        if (path.kind() == PathPattern::Kind::kLiteral) literal += copies;
        if (path.kind() == PathPattern::Kind::kTemplate) {
          segments += copies * path.segments().size();
        }
      }
    }
    r_.exact_paths_.reserve(literal);
    r_.edges_.reserve(segments);
    r_.nodes_.reserve(segments);
    pending_.reserve(literal + segments / 2 + routes.size());
  }

  uint32_t newList() {
    r_.lists_.emplace_back();
    return static_cast<uint32_t>(r_.lists_.size() - 1);
  }

  uint32_t newNode() {
    r_.nodes_.emplace_back();
    return static_cast<uint32_t>(r_.nodes_.size() - 1);
  }

  uint32_t newBucket() {
    r_.buckets_.emplace_back();
    return static_cast<uint32_t>(r_.buckets_.size() - 1);
  }

  // Adds `entry` to the list in `slot`, creating the list on first use.
  void add(uint32_t& slot, uint32_t route, uint16_t path, uint8_t flags) {
    if (slot == kNone) slot = newList();
    pending_.push_back({slot, rank_[route], Entry{route, path, flags}});
  }

  uint32_t literalChild(uint32_t node, std::string_view segment) {
    auto [it, inserted] = r_.edges_.try_emplace(SlotKey{node, segment}, kNone);
    if (inserted) it->second = newNode();  // newNode does not touch edges_
    return it->second;
  }

  uint32_t paramChild(uint32_t node) {
    if (r_.nodes_[node].param_child == kNone) {
      uint32_t child = newNode();
      r_.nodes_[node].param_child = child;
    }
    return r_.nodes_[node].param_child;
  }

  void addToBucket(uint32_t bucket, const CompiledRoute& route, uint8_t flags) {
    uint32_t index = route.index;
    if (route.paths.empty()) {
      add(r_.buckets_[bucket].any, index, kNoPath, flags);
      return;
    }
    for (std::size_t p = 0; p < route.paths.size(); ++p) {
      const PathPattern& pattern = route.paths[p];
      auto path = static_cast<uint16_t>(p);
      switch (pattern.kind()) {
        case PathPattern::Kind::kLiteral:
          addLiteral(bucket, pattern.source(), index, path, flags);
          break;
        case PathPattern::Kind::kTemplate:
          addTemplate(bucket, pattern, index, path, flags);
          break;
        case PathPattern::Kind::kRegex:
          add(r_.buckets_[bucket].regex, index, path, flags);
          break;
      }
    }
  }

  // A literal path is one key of exact_paths_: the request path equal to it (exact) or, at a
  // '/' boundary, starting with it (prefix; a path ending in '/' needs more after it).
  void addLiteral(uint32_t bucket, std::string_view source, uint32_t route, uint16_t path,
                  uint8_t flags) {
    auto [it, inserted] =
        r_.exact_paths_.try_emplace(LiteralKey{bucket, source}, PathSlot{{}, Range{kNone, 0}});
    add(it->second.rest.begin, route, path, flags);  // the list index until finish()
    if (source == "/") {
      add(r_.buckets_[bucket].any, route, path, flags);
      return;
    }
    auto slashes = static_cast<std::size_t>(std::count(source.begin(), source.end(), '/'));
    r_.buckets_[bucket].prefix_depths |= uint64_t{1} << std::min<std::size_t>(slashes, 63);
  }

  void addTemplate(uint32_t bucket, const PathPattern& pattern, uint32_t route, uint16_t path,
                   uint8_t flags) {
    if (r_.buckets_[bucket].root == kNone) {
      uint32_t root = newNode();
      r_.buckets_[bucket].root = root;
    }
    uint32_t node = r_.buckets_[bucket].root;
    for (const PathSegment& segment : pattern.segments()) {
      node = segment.is_param ? paramChild(node) : literalChild(node, segment.text);
    }
    add(r_.nodes_[node].templates, route, path, flags);
  }

  void finish() {
    std::sort(pending_.begin(), pending_.end(), [](const Pending& a, const Pending& b) {
      return std::tie(a.list, a.rank, a.entry.path) < std::tie(b.list, b.rank, b.entry.path);
    });
    r_.entries_.reserve(pending_.size());
    for (std::size_t i = 0; i < pending_.size(); ++i) {
      Range& range = r_.lists_[pending_[i].list];
      if (i == 0 || pending_[i - 1].list != pending_[i].list) {
        range.begin = static_cast<uint32_t>(i);
      }
      range.end = static_cast<uint32_t>(i + 1);
      r_.entries_.push_back(pending_[i].entry);
    }
    for (auto& [key, slot] : r_.exact_paths_) {
      const Range& list = r_.lists_[slot.rest.begin];  // never empty: made by its first entry
      slot.first = r_.entries_[list.begin];
      slot.rest = Range{list.begin + 1, list.end};
    }
    r_.lists_.shrink_to_fit();
    r_.buckets_.shrink_to_fit();
  }

  Router& r_;
  std::vector<uint32_t> rank_;
  std::vector<Pending> pending_;
};

Router::Router() = default;
Router::~Router() = default;
Router::Router(Router&&) noexcept = default;
Router& Router::operator=(Router&&) noexcept = default;

Router Router::build(std::span<const CompiledRoute> routes) {
  Router router;
  Builder(router).addRoutes(routes);
  return router;
}

// ---------------------------------------------------------------------------------------------
// Matching (the hot path: no allocation except RouteMatch::params)

bool Router::passes(const Entry& entry, const RequestView& request) const {
  if (entry.flags == 0) return true;
  const CompiledRoute& route = routes_[entry.route];
  if ((entry.flags & kHasMethods) != 0 && !route.allowsMethod(request.method)) return false;
  if ((entry.flags & kHasHeaders) != 0 && !route.headersMatch(request.headers)) return false;
  return true;
}

const Router::Entry* Router::firstPassing(uint32_t list, const RequestView& request) const {
  return list == kNone ? nullptr : firstPassing(lists_[list], request);
}

const Router::Entry* Router::firstPassing(const PathSlot& slot, const RequestView& request) const {
  return passes(slot.first, request) ? &slot.first : firstPassing(slot.rest, request);
}

const Router::Entry* Router::firstPassing(const Range& range, const RequestView& request) const {
  for (uint32_t i = range.begin; i < range.end; ++i) {
    if (passes(entries_[i], request)) return &entries_[i];
  }
  return nullptr;
}

void Router::fill(const Entry& entry, PathMatchKind kind, std::size_t matched_length,
                  RouteMatch& out) const {
  out.route = &routes_[entry.route];
  out.path = entry.path == kNoPath ? nullptr : &out.route->paths[entry.path];
  out.path_kind = kind;
  out.matched_length = matched_length;
}

bool Router::matchTemplate(uint32_t node, std::string_view rest, const RequestView& request,
                           RouteMatch& out) const {
  std::size_t slash = rest.find('/');
  std::string_view segment = rest.substr(0, slash);
  bool last = slash == std::string_view::npos;
  auto descend = [&](uint32_t child) -> bool {
    if (!last) return matchTemplate(child, rest.substr(slash + 1), request, out);
    const Entry* entry = firstPassing(nodes_[child].templates, request);
    if (entry == nullptr) return false;
    fill(*entry, PathMatchKind::kTemplate, request.path.size(), out);
    out.path->appendParams(request.path, out.params);
    return true;
  };
  // Literal before {param}: at the first differing segment a literal wins.
  if (auto it = edges_.find(SlotKey{node, segment}); it != edges_.end() && descend(it->second)) {
    return true;
  }
  uint32_t param = nodes_[node].param_child;
  return param != kNone && !segment.empty() && descend(param);
}

// Literal routes that are a prefix of the path at a '/' boundary, longest first. For the '/' at
// byte i (not the leading one): the key path[0, i] + "/" holds "open" prefixes like "/a/" (which
// need something after them: i + 1 < size), the key path[0, i) "closed" ones like "/a". The key
// equal to the whole path was tried as an exact match already, and "/" is the catch-all tier.
bool Router::matchPrefix(const Bucket& bucket, uint32_t bucket_index, const RequestView& request,
                         RouteMatch& out) const {
  const std::string_view path = request.path;
  std::size_t slashes_before = static_cast<std::size_t>(std::count(path.begin(), path.end(), '/'));
  auto wanted = [&](std::size_t depth) {
    return (bucket.prefix_depths >> std::min<std::size_t>(depth, 63)) & 1;
  };
  auto tryKey = [&](std::string_view key) -> bool {
    auto it = exact_paths_.find(LiteralKey{bucket_index, key});
    if (it == exact_paths_.end()) return false;
    const Entry* entry = firstPassing(it->second, request);
    if (entry == nullptr) return false;
    fill(*entry, PathMatchKind::kPrefix, key.size(), out);
    return true;
  };
  for (std::size_t i = path.rfind('/'); i != 0 && i != std::string_view::npos;
       i = path.rfind('/', i - 1)) {
    --slashes_before;  // now the number of '/' in path[0, i)
    if (i + 1 < path.size() && wanted(slashes_before + 1) && tryKey(path.substr(0, i + 1))) {
      return true;
    }
    if (path[i - 1] != '/' && wanted(slashes_before) && tryKey(path.substr(0, i))) return true;
  }
  return false;
}

bool Router::matchBucket(uint32_t bucket_index, const RequestView& request, RouteMatch& out) const {
  const Bucket& bucket = buckets_[bucket_index];
  const std::string_view path = request.path;
  if (!path.empty() && path.front() == '/') {
    if (auto it = exact_paths_.find(LiteralKey{bucket_index, path}); it != exact_paths_.end()) {
      if (const Entry* entry = firstPassing(it->second, request)) {
        fill(*entry, PathMatchKind::kExact, path.size(), out);
        return true;
      }
    }
    if (bucket.root != kNone && matchTemplate(bucket.root, path.substr(1), request, out)) {
      return true;
    }
    if (bucket.prefix_depths != 0 && matchPrefix(bucket, bucket_index, request, out)) return true;
  }
  if (bucket.regex != kNone) {
    const Range& range = lists_[bucket.regex];
    for (uint32_t i = range.begin; i < range.end; ++i) {
      const Entry& entry = entries_[i];
      if (!passes(entry, request)) continue;
      const PathPattern& pattern = routes_[entry.route].paths[entry.path];
      if (std::optional<std::size_t> length = pattern.matchRegex(path)) {
        fill(entry, PathMatchKind::kRegex, *length, out);
        pattern.appendParams(path, out.params);
        return true;
      }
    }
  }
  if (const Entry* entry = firstPassing(bucket.any, request)) {
    fill(*entry, PathMatchKind::kAny, 0, out);
    return true;
  }
  return false;
}

bool Router::matchHost(const HostMap& map, std::string_view key, HostMatchKind kind,
                       const RequestView& request, RouteMatch& out) const {
  auto it = map.find(key);
  if (it == map.end() || !matchBucket(it->second, request, out)) return false;
  out.host_kind = kind;
  return true;
}

RouteMatch Router::match(const RequestView& request) const {
  RouteMatch out;
  if (!exact_hosts_.empty() || !wildcard_hosts_.empty()) {
    NormalizedHost host(request.host);
    if (host.valid()) {
      if (!exact_hosts_.empty()) {
        if (host.hasPort() &&
            matchHost(exact_hosts_, host.nameWithPort(), HostMatchKind::kExact, request, out)) {
          return out;
        }
        if (matchHost(exact_hosts_, host.name(), HostMatchKind::kExact, request, out)) return out;
      }
      if (!wildcard_hosts_.empty()) {
        std::string_view name = host.name();
        // Longest suffix first: ".b.example.org" before ".example.org". The wildcard needs at
        // least one byte before the dot, so the search starts at 1.
        for (std::size_t dot = name.find('.', 1); dot != std::string_view::npos;
             dot = name.find('.', dot + 1)) {
          if (host.hasPort() && matchHost(wildcard_hosts_, host.suffixWithPort(dot),
                                          HostMatchKind::kWildcard, request, out)) {
            return out;
          }
          if (matchHost(wildcard_hosts_, host.suffix(dot), HostMatchKind::kWildcard, request,
                        out)) {
            return out;
          }
        }
      }
    }
  }
  if (default_bucket_ != kNone && matchBucket(default_bucket_, request, out)) {
    out.host_kind = HostMatchKind::kAny;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Explaining (slow path: the reference semantics, written independently of the index above)

namespace {

// Lower is better, compared member by member.
struct HostKey {
  int tier = 0;      // 0 exact, 1 wildcard, 2 any
  int longer = 0;    // wildcard: minus the suffix length
  int portless = 0;  // 0 when the pattern names the port
  auto tie() const { return std::tie(tier, longer, portless); }
};

struct PathKey {
  int tier = 0;       // PathMatchKind order
  std::string shape;  // template: one char per segment, '0' literal, '1' param
  long longer = 0;    // prefix: minus the prefix length
  auto tie() const { return std::tie(tier, shape, longer); }
};

std::string quote(std::string_view text) {
  std::string out = "\"";
  out.append(text);
  out.push_back('"');
  return out;
}

template <class Range, class Fn>
std::string joined(const Range& items, Fn&& fn) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out.append(", ");
    out.append(fn(item));
  }
  return out;
}

std::string describeHost(const HostPattern* host) {
  if (host == nullptr) return "no host";
  std::string text = host->kind() == HostPattern::Kind::kWildcard ? "*" : "";
  text.append(host->key());
  return quote(text);
}

std::string describePath(const PathPattern* path) {
  return path == nullptr ? "no path" : quote(path->source());
}

struct Candidate {
  HostKey host_key;
  PathKey path_key;
  const HostPattern* host = nullptr;
  const PathPattern* path = nullptr;
};

// Why `winner` comes before `loser` (both candidates for the request).
std::string precedenceReason(const CompiledRoute& winner, const Candidate& w,
                             const CompiledRoute& loser, const Candidate& l) {
  std::string who = "route " + quote(winner.displayName());
  if (w.host_key.tie() != l.host_key.tie()) {
    if (w.host_key.tier != l.host_key.tier) {
      return who + " matches the host more specifically (" + describeHost(w.host) + " beats " +
             describeHost(l.host) + ": exact beats wildcard beats no host)";
    }
    if (w.host_key.longer != l.host_key.longer) {
      return who + " has the longer wildcard (" + describeHost(w.host) + " beats " +
             describeHost(l.host) + ")";
    }
    return who + "'s host names the request's port (" + describeHost(w.host) + ")";
  }
  if (w.path_key.tie() != l.path_key.tie()) {
    if (w.path_key.tier != l.path_key.tier) {
      PathMatchKind wk = static_cast<PathMatchKind>(w.path_key.tier);
      PathMatchKind lk = static_cast<PathMatchKind>(l.path_key.tier);
      return who + " matches the path as " + std::string(toString(wk)) + " (" +
             describePath(w.path) + "), this route as " + std::string(toString(lk)) + " (" +
             describePath(l.path) + "); exact beats template beats prefix beats regex beats any";
    }
    if (w.path_key.shape != l.path_key.shape) {
      return who + "'s template " + describePath(w.path) +
             " has a literal segment where this route's " + describePath(l.path) + " has a {param}";
    }
    return who + " has the longer prefix (" + describePath(w.path) + " beats " +
           describePath(l.path) + ")";
  }
  if (winner.priority() != loser.priority()) {
    return who + " has the higher priority (" + std::to_string(winner.priority()) + " > " +
           std::to_string(loser.priority()) + ")";
  }
  if (winner.constraintCount() != loser.constraintCount()) {
    return who + " has more method/header constraints (" +
           std::to_string(winner.constraintCount()) + " > " +
           std::to_string(loser.constraintCount()) + ")";
  }
  if (winner.def->created_at != loser.def->created_at) {
    return who + " is older (created_at " + std::to_string(winner.def->created_at) + " < " +
           std::to_string(loser.def->created_at) + ")";
  }
  return who + " has the smaller id";
}

}  // namespace

MatchExplanation Router::explain(const RequestView& request) const {
  MatchExplanation explanation;
  explanation.match = match(request);
  NormalizedHost host(request.host);

  std::vector<std::optional<Candidate>> candidates(routes_.size());
  for (const CompiledRoute& route : routes_) {
    RouteVerdict verdict;
    verdict.route = &route;

    // Host.
    std::optional<HostKey> best_host;
    if (route.hosts.empty()) {
      best_host = HostKey{2, 0, 0};
    }
    for (const HostPattern& pattern : route.hosts) {
      if (!hostMatches(pattern, host)) continue;
      HostKey key;
      if (pattern.kind() == HostPattern::Kind::kExact) {
        key = {0, 0, pattern.hasPort() ? 0 : 1};
      } else {
        key = {1, -static_cast<int>(pattern.name().size()), pattern.hasPort() ? 0 : 1};
      }
      if (!best_host || key.tie() < best_host->tie()) {
        best_host = key;
        verdict.host = &pattern;
      }
    }
    if (!best_host) {
      verdict.verdict = Verdict::kHostMismatch;
      verdict.detail = "host " + quote(request.host) + " matches none of " +
                       joined(route.hosts, [](const HostPattern& h) { return describeHost(&h); });
      explanation.routes.push_back(std::move(verdict));
      continue;
    }
    verdict.host_kind = best_host->tier == 0   ? HostMatchKind::kExact
                        : best_host->tier == 1 ? HostMatchKind::kWildcard
                                               : HostMatchKind::kAny;

    // Path.
    std::optional<PathKey> best_path;
    if (route.paths.empty()) {
      best_path = PathKey{static_cast<int>(PathMatchKind::kAny), {}, 0};
    }
    for (const PathPattern& pattern : route.paths) {
      std::optional<PathPattern::Hit> hit = pattern.match(request.path);
      if (!hit) continue;
      PathKey key{static_cast<int>(hit->kind), {}, 0};
      if (hit->kind == PathMatchKind::kTemplate) {
        for (const PathSegment& segment : pattern.segments()) {
          key.shape.push_back(segment.is_param ? '1' : '0');
        }
      } else if (hit->kind == PathMatchKind::kPrefix) {
        key.longer = -static_cast<long>(hit->matched_length);
      }
      if (!best_path || key.tie() < best_path->tie()) {
        best_path = std::move(key);
        verdict.path = &pattern;
      }
    }
    if (!best_path) {
      verdict.verdict = Verdict::kPathMismatch;
      verdict.detail = "path " + quote(request.path) + " matches none of " +
                       joined(route.paths, [](const PathPattern& p) { return describePath(&p); });
      explanation.routes.push_back(std::move(verdict));
      continue;
    }
    verdict.path_kind = static_cast<PathMatchKind>(best_path->tier);

    // Filters.
    if (!route.allowsMethod(request.method)) {
      verdict.verdict = Verdict::kMethodMismatch;
      verdict.detail =
          "method " + quote(request.method) + " is not one of " + joined(route.def->methods, quote);
      explanation.routes.push_back(std::move(verdict));
      continue;
    }
    const HeaderCondition* failed = nullptr;
    for (const HeaderCondition& condition : route.headers) {
      if (!request.headers.hasAnyOf(condition.name, condition.values)) {
        failed = &condition;
        break;
      }
    }
    if (failed != nullptr) {
      std::vector<std::string> got;
      request.headers.visit(failed->name, [&](std::string_view value) {
        got.push_back(quote(value));
        return false;
      });
      verdict.verdict = Verdict::kHeaderMismatch;
      verdict.detail =
          "header " + std::string(failed->name) + ": " +
          (got.empty() ? std::string("missing")
                       : "got " + joined(got, [](const std::string& s) { return s; })) +
          (failed->values.empty() ? std::string(", want it present")
                                  : ", want one of " + joined(failed->values, quote));
      explanation.routes.push_back(std::move(verdict));
      continue;
    }

    candidates[route.index] =
        Candidate{*best_host, std::move(*best_path), verdict.host, verdict.path};
    explanation.routes.push_back(std::move(verdict));
  }

  // The winner: the smallest (host key, path key, route order).
  const CompiledRoute* winner = nullptr;
  for (const CompiledRoute& route : routes_) {
    const auto& c = candidates[route.index];
    if (!c) continue;
    if (winner == nullptr) {
      winner = &route;
      continue;
    }
    const Candidate& w = *candidates[winner->index];
    auto ck = std::tie(c->host_key.tier, c->host_key.longer, c->host_key.portless, c->path_key.tier,
                       c->path_key.shape, c->path_key.longer);
    auto wk = std::tie(w.host_key.tier, w.host_key.longer, w.host_key.portless, w.path_key.tier,
                       w.path_key.shape, w.path_key.longer);
    if (ck < wk || (ck == wk && routeOrderLess(route, *winner))) winner = &route;
  }
  for (RouteVerdict& verdict : explanation.routes) {
    const auto& c = candidates[verdict.route->index];
    if (!c) continue;
    if (verdict.route == winner) {
      verdict.verdict = Verdict::kSelected;
      verdict.detail = "serves the request (host: " + std::string(toString(verdict.host_kind)) +
                       ", path: " + std::string(toString(verdict.path_kind)) + ")";
    } else {
      verdict.verdict = Verdict::kLostOnPrecedence;
      verdict.lost_to = winner;
      verdict.detail = precedenceReason(*winner, *candidates[winner->index], *verdict.route, *c);
    }
  }
  return explanation;
}

}  // namespace turnpike::proxy
