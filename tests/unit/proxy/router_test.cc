#include "proxy/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/beast/http/fields.hpp>
#include <random>
#include <string>
#include <vector>

#include "allocation_counter.h"
#include "proxy_test_util.h"

namespace turnpike::proxy {
namespace {

using testing::makeConfig;
using testing::matchedName;
using testing::mustBuild;
using testing::req;
using testing::Request;
using testing::RouteDef;

// ---------------------------------------------------------------------------------------------
// The precedence table: routes + request -> the route that serves it ("-" = none). Each row is
// one rule of router.h's PRECEDENCE comment.

struct PrecedenceCase {
  std::string rule;
  std::vector<model::Route> routes;
  Request request;
  std::string expected;
};

std::ostream& operator<<(std::ostream& os, const PrecedenceCase& c) { return os << c.rule; }

std::vector<PrecedenceCase> precedenceCases() {
  const std::string h = "api.example.com";
  return {
      // 1. Hosts.
      {"exact host beats wildcard host, even with a weaker path",
       {RouteDef("wild").hosts({"*.example.com"}).paths({"/orders"}),
        RouteDef("exact").hosts({h}).paths({"/"})},
       req("GET", h, "/orders"),
       "exact"},
      {"wildcard host beats host-less routes",
       {RouteDef("none").paths({"/orders"}), RouteDef("wild").hosts({"*.example.com"})},
       req("GET", h, "/orders"),
       "wild"},
      {"longest wildcard suffix first",
       {RouteDef("short").hosts({"*.example.com"}), RouteDef("long").hosts({"*.eu.example.com"})},
       req("GET", "x.eu.example.com", "/"),
       "long"},
      {"shorter wildcard when the longer does not match",
       {RouteDef("short").hosts({"*.example.com"}), RouteDef("long").hosts({"*.eu.example.com"})},
       req("GET", "x.us.example.com", "/"),
       "short"},
      {"wildcard matches any depth",
       {RouteDef("wild").hosts({"*.example.com"})},
       req("GET", "a.b.c.example.com", "/"),
       "wild"},
      {"wildcard does not match the bare domain",
       {RouteDef("wild").hosts({"*.example.com"})},
       req("GET", "example.com", "/"),
       "-"},
      {"host is case-insensitive, the request port is ignored, a trailing dot too",
       {RouteDef("exact").hosts({h})},
       req("GET", "API.Example.COM.:8080", "/"),
       "exact"},
      {"route host with a port needs that port",
       {RouteDef("port").hosts({"api.example.com:8443"})},
       req("GET", h, "/"),
       "-"},
      {"route host with the request's port beats the portless host",
       {RouteDef("plain").hosts({h}), RouteDef("port").hosts({"api.example.com:8443"})},
       req("GET", "api.example.com:8443", "/"),
       "port"},
      {"other port falls back to the portless host",
       {RouteDef("plain").hosts({h}), RouteDef("port").hosts({"api.example.com:8443"})},
       req("GET", "api.example.com:9000", "/"),
       "plain"},
      {"wildcard with port",
       {RouteDef("plain").hosts({"*.example.com"}), RouteDef("port").hosts({"*.example.com:8443"})},
       req("GET", "a.example.com:8443", "/"),
       "port"},
      {"a host route that cannot serve the path falls through to host-less routes",
       {RouteDef("admin").hosts({h}).paths({"/admin"}), RouteDef("rest").paths({"/"})},
       req("GET", h, "/other"),
       "rest"},
      {"no Host header: only host-less routes",
       {RouteDef("exact").hosts({h}), RouteDef("any").methods({"GET"})},
       req("GET", "", "/"),
       "any"},

      // 2. Paths.
      {"exact path beats template",
       {RouteDef("tmpl").paths({"/users/{id}"}), RouteDef("me").paths({"/users/me"})},
       req("GET", h, "/users/me"),
       "me"},
      {"template when the literal does not match",
       {RouteDef("tmpl").paths({"/users/{id}"}), RouteDef("me").paths({"/users/me"})},
       req("GET", h, "/users/7"),
       "tmpl"},
      {"template beats a longer-or-equal prefix",
       {RouteDef("prefix").paths({"/users"}), RouteDef("tmpl").paths({"/users/{id}"})},
       req("GET", h, "/users/7"),
       "tmpl"},
      {"a template is not a prefix",
       {RouteDef("prefix").paths({"/users"}), RouteDef("tmpl").paths({"/users/{id}"})},
       req("GET", h, "/users/7/orders"),
       "prefix"},
      {"a template param does not match an empty segment",
       {RouteDef("tmpl").paths({"/users/{id}"})},
       req("GET", h, "/users/"),
       "-"},
      {"templates: literal beats param at the first differing segment",
       {RouteDef("a-param").paths({"/a/{x}/c"}), RouteDef("b-literal").paths({"/a/b/{y}"})},
       req("GET", h, "/a/b/c"),
       "b-literal"},
      {"templates: falls back to the param branch",
       {RouteDef("a-param").paths({"/a/{x}/c"}), RouteDef("b-literal").paths({"/a/b/{y}"})},
       req("GET", h, "/a/z/c"),
       "a-param"},
      {"templates: backtracks when the literal branch dead-ends",
       {RouteDef("deep").paths({"/a/b/c/d"}), RouteDef("tmpl").paths({"/a/{x}/c"})},
       req("GET", h, "/a/b/c"),
       "tmpl"},
      {"longest prefix wins",
       {RouteDef("api").paths({"/api"}), RouteDef("v1").paths({"/api/v1"})},
       req("GET", h, "/api/v1/items"),
       "v1"},
      {"shorter prefix when the longer does not match",
       {RouteDef("api").paths({"/api"}), RouteDef("v1").paths({"/api/v1"})},
       req("GET", h, "/api/v2"),
       "api"},
      {"prefix stops at segment boundaries",
       {RouteDef("orders").paths({"/orders"})},
       req("GET", h, "/ordersX"),
       "-"},
      {"prefix matches its own path with a trailing slash",
       {RouteDef("orders").paths({"/orders"})},
       req("GET", h, "/orders/"),
       "orders"},
      {"a prefix ending in '/' needs something after it",
       {RouteDef("orders").paths({"/orders/"})},
       req("GET", h, "/orders"),
       "-"},
      {"a prefix ending in '/' matches below it",
       {RouteDef("orders").paths({"/orders/"})},
       req("GET", h, "/orders/7"),
       "orders"},
      {"'/a/' is a longer prefix than '/a'",
       {RouteDef("closed").paths({"/a"}), RouteDef("open").paths({"/a/"})},
       req("GET", h, "/a/x"),
       "open"},
      {"paths are case-sensitive",
       {RouteDef("orders").paths({"/orders"})},
       req("GET", h, "/Orders"),
       "-"},
      {"prefix beats regex",
       {RouteDef("regex").paths({"~/api/v[0-9]+"}), RouteDef("prefix").paths({"/api"})},
       req("GET", h, "/api/v1"),
       "prefix"},
      {"regex beats the catch-all '/'",
       {RouteDef("root").paths({"/"}), RouteDef("regex").paths({"~/v[0-9]+/items"})},
       req("GET", h, "/v2/items/9"),
       "regex"},
      {"regex beats path-less routes",
       {RouteDef("nopath").methods({"GET"}), RouteDef("regex").paths({"~/v[0-9]+/items"})},
       req("GET", h, "/v2/items"),
       "regex"},
      {"regex is anchored at the start",
       {RouteDef("regex").paths({"~/v[0-9]+"})},
       req("GET", h, "/x/v2"),
       "-"},
      {"regexes by priority",
       {RouteDef("low").paths({"~/v[0-9]+"}), RouteDef("high").paths({"~/v1"}).priority(5)},
       req("GET", h, "/v1/x"),
       "high"},
      {"a route without paths is the lowest path precedence",
       {RouteDef("nopath").methods({"GET"}).priority(100), RouteDef("prefix").paths({"/x"})},
       req("GET", h, "/x/y"),
       "prefix"},
      {"'/' is an exact match for '/'",
       {RouteDef("nopath").methods({"GET"}).priority(100), RouteDef("root").paths({"/"})},
       req("GET", h, "/"),
       "root"},
      {"'/' and no path share the catch-all tier: priority decides",
       {RouteDef("nopath").methods({"GET"}).priority(1), RouteDef("root").paths({"/"})},
       req("GET", h, "/anything"),
       "nopath"},

      // 3. Ties within a precedence slot.
      {"higher priority",
       {RouteDef("p0").paths({"/x"}), RouteDef("p1").paths({"/x"}).priority(1)},
       req("GET", h, "/x"),
       "p1"},
      {"priority does not beat path precedence",
       {RouteDef("prefix").paths({"/x"}).priority(99), RouteDef("exact").paths({"/x/y"})},
       req("GET", h, "/x/y"),
       "exact"},
      {"more constraints (a method list)",
       {RouteDef("plain").paths({"/x"}), RouteDef("get").paths({"/x"}).methods({"GET"})},
       req("GET", h, "/x"),
       "get"},
      {"more constraints (headers count one each)",
       {RouteDef("get").paths({"/x"}).methods({"GET"}),
        RouteDef("hdrs").paths({"/x"}).header("a", {"1"}).header("b", {"2"})},
       req("GET", h, "/x", {{"a", "1"}, {"b", "2"}}),
       "hdrs"},
      {"older created_at",
       {RouteDef("new").paths({"/x"}).createdAt(200), RouteDef("old").paths({"/x"}).createdAt(100)},
       req("GET", h, "/x"),
       "old"},
      {"then the smaller id",
       {RouteDef("b").paths({"/x"}).id("id-2"), RouteDef("a").paths({"/x"}).id("id-1")},
       req("GET", h, "/x"),
       "a"},

      // 4. Filters fall through.
      {"method mismatch falls through from exact to prefix",
       {RouteDef("post7").paths({"/orders/7"}).methods({"POST"}),
        RouteDef("orders").paths({"/orders"}).methods({"GET"})},
       req("GET", h, "/orders/7"),
       "orders"},
      {"the exact route serves its method",
       {RouteDef("post7").paths({"/orders/7"}).methods({"POST"}),
        RouteDef("orders").paths({"/orders"}).methods({"GET"})},
       req("POST", h, "/orders/7"),
       "post7"},
      {"methods are case-sensitive",
       {RouteDef("get").paths({"/"}).methods({"GET"})},
       req("get", h, "/"),
       "-"},
      {"extension methods",
       {RouteDef("purge").paths({"/"}).methods({"PURGE"})},
       req("PURGE", h, "/x"),
       "purge"},
      {"a route without methods takes any method",
       {RouteDef("any").paths({"/x"})},
       req("DELETE", h, "/x"),
       "any"},
      {"header condition met",
       {RouteDef("plain").paths({"/x"}), RouteDef("v2").paths({"/x"}).header("x-version", {"2"})},
       req("GET", h, "/x", {{"X-Version", "2"}}),
       "v2"},
      {"header value mismatch falls through",
       {RouteDef("plain").paths({"/x"}), RouteDef("v2").paths({"/x"}).header("x-version", {"2"})},
       req("GET", h, "/x", {{"x-version", "1"}}),
       "plain"},
      {"header values compare exactly",
       {RouteDef("v2").paths({"/x"}).header("x-version", {"beta"})},
       req("GET", h, "/x", {{"x-version", "Beta"}}),
       "-"},
      {"one of several values, any occurrence",
       {RouteDef("v").paths({"/x"}).header("x-version", {"2", "3"})},
       req("GET", h, "/x", {{"x-version", "1"}, {"x-version", "3"}}),
       "v"},
      {"header filter fails across host tiers",
       {RouteDef("host-v2").hosts({h}).header("x-version", {"2"}),
        RouteDef("wild").hosts({"*.example.com"})},
       req("GET", h, "/x"),
       "wild"},
      {"no route", {RouteDef("a").paths({"/a"})}, req("GET", h, "/b"), "-"},
  };
}

class PrecedenceTest : public ::testing::TestWithParam<PrecedenceCase> {};

TEST_P(PrecedenceTest, PicksTheDocumentedRoute) {
  const PrecedenceCase& c = GetParam();
  auto snapshot = mustBuild(makeConfig(c.routes));
  EXPECT_EQ(matchedName(*snapshot, c.request), c.expected)
      << c.request.method << " " << c.request.host << c.request.path;
  // explain() computes the winner independently; it must agree.
  MatchExplanation explanation = snapshot->router().explain(c.request.view());
  std::string selected = "-";
  for (const RouteVerdict& v : explanation.routes) {
    if (v.verdict == Verdict::kSelected) selected = v.route->displayName();
  }
  EXPECT_EQ(selected, c.expected);
}

INSTANTIATE_TEST_SUITE_P(Table, PrecedenceTest, ::testing::ValuesIn(precedenceCases()),
                         [](const auto& info) { return "case" + std::to_string(info.index); });

// ---------------------------------------------------------------------------------------------

TEST(RouterTest, TemplateParams) {
  auto snapshot = mustBuild(makeConfig({RouteDef("r").paths({"/users/{id}/orders/{order_id}"})}));
  Request r = req("GET", "h", "/users/u%207/orders/42");
  RouteMatch m = snapshot->router().match(r.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m.path_kind, PathMatchKind::kTemplate);
  EXPECT_EQ(m.matched_length, r.path.size());
  ASSERT_EQ(m.params.size(), 2u);
  EXPECT_EQ(m.params[0], (PathParam{"id", "u%207"}));  // raw, not decoded
  EXPECT_EQ(m.params[1], (PathParam{"order_id", "42"}));
}

TEST(RouterTest, TemplateWithTrailingSlashNeedsIt) {
  auto snapshot = mustBuild(makeConfig({RouteDef("r").paths({"/users/{id}/"})}));
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/users/7/")), "r");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/users/7")), "-");
}

TEST(RouterTest, RegexNamedGroupsBecomeParams) {
  auto snapshot =
      mustBuild(makeConfig({RouteDef("r").paths({"~/v(?P<version>[0-9]+)/items/([a-z]+)"})}));
  Request r = req("GET", "h", "/v12/items/abc/rest");
  RouteMatch m = snapshot->router().match(r.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m.path_kind, PathMatchKind::kRegex);
  EXPECT_EQ(m.matched_length, std::string("/v12/items/abc").size());
  ASSERT_EQ(m.params.size(), 1u);
  EXPECT_EQ(m.params[0], (PathParam{"version", "12"}));
}

TEST(RouterTest, MatchKindsAndLengths) {
  auto snapshot = mustBuild(makeConfig({RouteDef("p").paths({"/api/"}).hosts({"*.example.com"}),
                                        RouteDef("e").paths({"/exact"}).hosts({"a.example.com"}),
                                        RouteDef("n").methods({"GET"})}));
  Request r1 = req("GET", "x.example.com", "/api/items");
  RouteMatch m = snapshot->router().match(r1.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m.host_kind, HostMatchKind::kWildcard);
  EXPECT_EQ(m.path_kind, PathMatchKind::kPrefix);
  EXPECT_EQ(m.matched_length, 5u);
  ASSERT_NE(m.path, nullptr);
  EXPECT_EQ(m.path->source(), "/api/");

  Request r2 = req("GET", "a.example.com", "/exact");
  m = snapshot->router().match(r2.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m.host_kind, HostMatchKind::kExact);
  EXPECT_EQ(m.path_kind, PathMatchKind::kExact);

  Request r3 = req("GET", "other", "/exact");
  m = snapshot->router().match(r3.view());
  ASSERT_TRUE(m);
  EXPECT_EQ(m.route->name(), "n");
  EXPECT_EQ(m.host_kind, HostMatchKind::kAny);
  EXPECT_EQ(m.path_kind, PathMatchKind::kAny);
  EXPECT_EQ(m.path, nullptr);
  EXPECT_EQ(m.matched_length, 0u);
}

// Literal paths of up to 16 bytes are held in the router's index itself, longer ones are not:
// both kinds, and paths that differ only past the 16th byte, match exactly as written.
TEST(RouterTest, LiteralPathsAroundTheInlineLengthMatchExactly) {
  const std::string p15 = "/aaaaaaaaaaaaaa";  // 15 bytes
  const std::string p16 = p15 + "b";
  const std::string p17 = p16 + "c";
  const std::string p17d = p16 + "d";  // differs from p17 only in byte 17
  const std::string p40 = p17 + "/" + std::string(22, 'e');
  auto snapshot = mustBuild(makeConfig(
      {RouteDef("p15").paths({p15}), RouteDef("p16").paths({p16}), RouteDef("p17").paths({p17}),
       RouteDef("p17d").paths({p17d}), RouteDef("p40").paths({p40})}));
  ASSERT_EQ(p16.size(), 16u);
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p15)), "p15");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p16)), "p16");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p17)), "p17");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p17d)), "p17d");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p40)), "p40");
  // Prefixes at a '/' boundary, of either kind.
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p16 + "/x")), "p16");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p17d + "/x/y")), "p17d");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p40 + "/z")), "p40");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p17 + "/" + std::string(22, 'f'))), "p17");
  // Not a boundary, or a byte different.
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p16 + "x")), "-");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p16 + "e")), "-");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", p15.substr(0, 14))), "-");
}

// Several routes on one literal path: the first is held in the index, the others after it; each
// is reached when the ones before it cannot serve the request.
TEST(RouterTest, SeveralRoutesOnOneLiteralPathAreTriedInOrder) {
  auto snapshot = mustBuild(makeConfig({RouteDef("get").paths({"/orders"}).methods({"GET"}),
                                        RouteDef("post").paths({"/orders"}).methods({"POST"}),
                                        RouteDef("v2").paths({"/orders"}).header("x-v", {"2"}),
                                        RouteDef("any").paths({"/orders"}).priority(-1)}));
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/orders")), "get");
  EXPECT_EQ(matchedName(*snapshot, req("POST", "h", "/orders/7")), "post");
  EXPECT_EQ(matchedName(*snapshot, req("PUT", "h", "/orders", {{"x-v", "2"}})), "v2");
  EXPECT_EQ(matchedName(*snapshot, req("PUT", "h", "/orders")), "any");
  EXPECT_EQ(matchedName(*snapshot, req("DELETE", "h", "/orders/1")), "any");
}

TEST(RouterTest, Ipv6HostWithPort) {
  auto snapshot = mustBuild(makeConfig({RouteDef("v6").hosts({"[::1]"})}));
  EXPECT_EQ(matchedName(*snapshot, req("GET", "[::1]:8000", "/")), "v6");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "[::2]:8000", "/")), "-");
}

TEST(RouterTest, RouteWithSeveralHostsAndPaths) {
  auto snapshot = mustBuild(makeConfig(
      {RouteDef("multi").hosts({"a.com", "*.b.com"}).paths({"/x", "/users/{id}", "~/re"})}));
  EXPECT_EQ(matchedName(*snapshot, req("GET", "a.com", "/x/1")), "multi");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "q.b.com", "/users/1")), "multi");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "q.b.com", "/rex")), "multi");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "b.com", "/x")), "-");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "a.com", "/y")), "-");
}

TEST(RouterTest, EmptySnapshotMatchesNothing) {
  auto snapshot = SnapshotBuilder::empty();
  EXPECT_EQ(matchedName(*snapshot, req("GET", "a.com", "/")), "-");
  EXPECT_TRUE(snapshot->router().explain(req("GET", "a.com", "/").view()).routes.empty());
}

TEST(RouterTest, HeaderViewOverBeastFields) {
  auto snapshot = mustBuild(makeConfig(
      {RouteDef("v2").paths({"/x"}).header("x-version", {"2"}), RouteDef("plain").paths({"/x"})}));
  boost::beast::http::fields fields;
  fields.insert("X-Version", "1");
  fields.insert("x-version", "2");
  RequestView view{"GET", "h", "/x", HeaderView::ofFields(fields)};
  RouteMatch m = snapshot->router().match(view);
  ASSERT_TRUE(m);
  EXPECT_EQ(m.route->name(), "v2");

  boost::beast::http::fields other;
  other.insert("x-versio", "2");
  m = snapshot->router().match({"GET", "h", "/x", HeaderView::ofFields(other)});
  ASSERT_TRUE(m);
  EXPECT_EQ(m.route->name(), "plain");
}

TEST(RouterTest, HeaderConditionWithoutValuesNeedsPresence) {
  auto snapshot = mustBuild(makeConfig({RouteDef("r").paths({"/"}).header("x-debug", {})}));
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/", {{"X-Debug", ""}})), "r");
  EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/")), "-");
}

// ---------------------------------------------------------------------------------------------
// Upstream targets (strip_path, query strings).

struct UpstreamCase {
  std::string route_path;  // "" = route without paths
  bool strip;
  std::string target;  // request target with query
  std::string expected;
};

TEST(RouterTest, UpstreamTargets) {
  const std::vector<UpstreamCase> cases = {
      {"/orders", true, "/orders/7?x=1", "/7?x=1"},
      {"/orders", true, "/orders", "/"},
      {"/orders", true, "/orders?x=1&y=2", "/?x=1&y=2"},
      {"/orders", true, "/orders/", "/"},
      {"/orders/", true, "/orders/7", "/7"},
      {"/orders", false, "/orders/7?x=1", "/orders/7?x=1"},
      {"/users/{id}", true, "/users/7?full=1", "/?full=1"},
      {"/users/{id}", false, "/users/7", "/users/7"},
      {"~/v[0-9]+", true, "/v2/items?q", "/items?q"},
      {"~/api/", true, "/api/items", "/items"},
      {"/", true, "/a/b?c", "/a/b?c"},
      {"", true, "/a/b?c", "/a/b?c"},
      {"/orders", true, "/orders/7?", "/7"},
      // A regex cut inside a segment leaves no dot segment for the upstream.
      {"~/v[0-9]+", true, "/v1../x", "/x"},
      {"~/v[0-9]+", true, "/v1./x?q", "/x?q"},
      {"~/v[0-9]+", true, "/v1..", "/"},
      {"~/v[0-9]+", true, "/v1.../x", "/.../x"},
  };
  for (const UpstreamCase& c : cases) {
    RouteDef def("r");
    def.stripPath(c.strip);
    if (c.route_path.empty()) {
      def.methods({"GET"});
    } else {
      def.paths({c.route_path});
    }
    auto snapshot = mustBuild(makeConfig({def}));
    auto [path, query] = splitTarget(c.target);
    Request r = req("GET", "h", std::string(path));
    RouteMatch m = snapshot->router().match(r.view());
    ASSERT_TRUE(m) << c.route_path << " " << c.target;
    EXPECT_EQ(upstreamTarget(m, r.path, query), c.expected) << c.route_path << " " << c.target;
  }
}

TEST(RouterTest, PreserveHostIsExposed) {
  auto snapshot = mustBuild(makeConfig(
      {RouteDef("keep").paths({"/k"}).preserveHost(true), RouteDef("replace").paths({"/r"})}));
  Request keep = req("GET", "h", "/k");
  Request replace = req("GET", "h", "/r");
  EXPECT_TRUE(snapshot->router().match(keep.view()).route->preserveHost());
  EXPECT_FALSE(snapshot->router().match(replace.view()).route->preserveHost());
  EXPECT_EQ(snapshot->router().match(replace.view()).route->service->targets[0].authority,
            "10.0.0.1:8080");
}

// ---------------------------------------------------------------------------------------------
// explain()

const RouteVerdict& verdictOf(const MatchExplanation& e, std::string_view name) {
  for (const RouteVerdict& v : e.routes) {
    if (v.route->displayName() == name) return v;
  }
  ADD_FAILURE() << "no verdict for " << name;
  return e.routes.front();
}

TEST(RouterExplainTest, SaysWhyEachRouteDidOrDidNotMatch) {
  auto snapshot = mustBuild(makeConfig({
      RouteDef("winner").paths({"/orders/{id}"}).methods({"GET"}),
      RouteDef("prefix").paths({"/orders"}),
      RouteDef("other-host").hosts({"admin.example.com"}),
      RouteDef("other-path").paths({"/users"}),
      RouteDef("post-only").paths({"/orders/7"}).methods({"POST"}),
      RouteDef("v2").paths({"/orders/7"}).header("x-version", {"2"}),
      RouteDef("low").paths({"/orders/{n}"}).methods({"GET"}).priority(-1),
  }));
  Request r = req("GET", "api.example.com", "/orders/7", {{"x-version", "1"}});
  MatchExplanation e = snapshot->router().explain(r.view());
  ASSERT_TRUE(e.match);
  EXPECT_EQ(e.match.route->name(), "winner");
  ASSERT_EQ(e.routes.size(), 7u);

  EXPECT_EQ(verdictOf(e, "winner").verdict, Verdict::kSelected);
  EXPECT_EQ(verdictOf(e, "winner").path_kind, PathMatchKind::kTemplate);

  const RouteVerdict& prefix = verdictOf(e, "prefix");
  EXPECT_EQ(prefix.verdict, Verdict::kLostOnPrecedence);
  EXPECT_EQ(prefix.lost_to, e.match.route);
  EXPECT_NE(prefix.detail.find("template"), std::string::npos) << prefix.detail;

  EXPECT_EQ(verdictOf(e, "other-host").verdict, Verdict::kHostMismatch);
  EXPECT_NE(verdictOf(e, "other-host").detail.find("admin.example.com"), std::string::npos);
  EXPECT_EQ(verdictOf(e, "other-path").verdict, Verdict::kPathMismatch);
  EXPECT_EQ(verdictOf(e, "post-only").verdict, Verdict::kMethodMismatch);
  EXPECT_NE(verdictOf(e, "post-only").detail.find("POST"), std::string::npos);

  const RouteVerdict& v2 = verdictOf(e, "v2");
  EXPECT_EQ(v2.verdict, Verdict::kHeaderMismatch);
  EXPECT_NE(v2.detail.find("x-version"), std::string::npos) << v2.detail;
  EXPECT_NE(v2.detail.find("\"1\""), std::string::npos) << v2.detail;

  const RouteVerdict& low = verdictOf(e, "low");
  EXPECT_EQ(low.verdict, Verdict::kLostOnPrecedence);
  EXPECT_NE(low.detail.find("priority"), std::string::npos) << low.detail;
}

// match() and explain() implement the rules independently (index vs. brute force); on random
// configurations and requests they must pick the same route.
TEST(RouterExplainTest, AgreesWithMatchOnRandomConfigs) {
  std::mt19937 rng(12345);
  auto pick = [&](const std::vector<std::string>& from) {
    return from[std::uniform_int_distribution<std::size_t>(0, from.size() - 1)(rng)];
  };
  auto chance = [&](int percent) {
    return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
  };
  const std::vector<std::string> hosts = {"a.com",      "*.a.com",   "*.b.a.com",
                                          "a.com:8443", "x.b.a.com", "*.a.com:8443"};
  const std::vector<std::string> paths = {
      "/",          "/a",       "/a/",      "/a/b",       "/a/b/", "/a/{x}",
      "/{x}/b",     "/{x}/{y}", "/a/b/c",   "/{x}/b/{z}", "/a//b", "~/a/[bc]",
      "~/[a-z]+/b", "/b",       "/a/{x}/c", "//",         "~/"};
  const std::vector<std::string> methods = {"GET", "POST", "PURGE"};
  const std::vector<std::string> req_hosts = {
      "a.com", "x.a.com", "x.b.a.com", "a.com:8443", "y.b.a.com:8443", "b.com", ""};
  const std::vector<std::string> req_paths = {"/",      "/a",     "/a/",    "/a/b",  "/a/b/",
                                              "/a/b/c", "/x/b",   "/x/b/z", "/a//b", "/b",
                                              "/a/c",   "/a/x/c", "//",     "/ab"};
  int matched = 0;
  for (int round = 0; round < 300; ++round) {
    std::vector<model::Route> routes;
    int count = std::uniform_int_distribution<int>(1, 8)(rng);
    for (int i = 0; i < count; ++i) {
      RouteDef def("r" + std::to_string(i));
      if (chance(50)) def.hosts({pick(hosts)});
      if (chance(80)) {
        std::vector<std::string> ps = {pick(paths)};
        if (chance(30)) ps.push_back(pick(paths));
        def.paths(ps);
      }
      if (chance(30)) def.methods({pick(methods)});
      if (chance(20)) def.header("x-v", {"1"});
      def.priority(std::uniform_int_distribution<int>(0, 2)(rng));
      def.createdAt(std::uniform_int_distribution<int>(0, 3)(rng));
      routes.push_back(def);
    }
    auto snapshot = mustBuild(makeConfig(routes));
    for (int q = 0; q < 20; ++q) {
      std::vector<std::pair<std::string, std::string>> headers;
      if (chance(50)) headers.push_back({"x-v", "1"});
      Request r =
          req(chance(70) ? "GET" : pick(methods), pick(req_hosts), pick(req_paths), headers);
      RouteMatch m = snapshot->router().match(r.view());
      MatchExplanation e = snapshot->router().explain(r.view());
      const CompiledRoute* selected = nullptr;
      for (const RouteVerdict& v : e.routes) {
        if (v.verdict == Verdict::kSelected) selected = v.route;
      }
      ASSERT_EQ(m.route, selected) << "round " << round << ": " << r.method << " " << r.host
                                   << r.path << " match=" << (m ? m.route->name() : "-")
                                   << " explain=" << (selected ? selected->name() : "-");
      if (m) ++matched;
    }
  }
  EXPECT_GT(matched, 1000);  // the generator exercises matches, not only misses
}

// ---------------------------------------------------------------------------------------------
// Scale and allocation.

TEST(RouterTest, TenThousandRoutesStillMatchCorrectly) {
  std::vector<model::Route> routes;
  routes.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    std::string n = std::to_string(i);
    switch (i % 4) {
      case 0:
        routes.push_back(RouteDef("prefix" + n).paths({"/svc" + n}));
        break;
      case 1:
        routes.push_back(RouteDef("tmpl" + n).paths({"/svc" + n + "/items/{id}"}));
        break;
      case 2:
        routes.push_back(RouteDef("host" + n).hosts({"h" + n + ".example.com"}).paths({"/"}));
        break;
      case 3:
        routes.push_back(
            RouteDef("get" + n).paths({"/svc" + n + "/x"}).methods({"GET"}).header("x-t", {n}));
        break;
    }
  }
  routes.push_back(RouteDef("fallback").hosts({"*.example.com"}));
  auto snapshot = mustBuild(makeConfig(routes));
  ASSERT_EQ(snapshot->routes().size(), 10001u);
  for (int i = 0; i < 10000; i += 97) {
    std::string n = std::to_string(i);
    switch (i % 4) {
      case 0:
        EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/svc" + n + "/anything")), "prefix" + n);
        EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/svc" + n + "0x")), "-");
        break;
      case 1:
        EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/svc" + n + "/items/5")), "tmpl" + n);
        EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/svc" + n + "/items/5/6")), "-");
        break;
      case 2:
        EXPECT_EQ(matchedName(*snapshot, req("GET", "h" + n + ".example.com", "/z")), "host" + n);
        EXPECT_EQ(matchedName(*snapshot, req("GET", "q" + n + ".example.com", "/z")), "fallback");
        break;
      case 3:
        EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/svc" + n + "/x", {{"x-t", n}})),
                  "get" + n);
        EXPECT_EQ(matchedName(*snapshot, req("GET", "h", "/svc" + n + "/x", {{"x-t", "no"}})), "-");
        break;
    }
  }
}

TEST(RouterTest, MatchDoesNotAllocateUnlessParamsAreReturned) {
  auto snapshot = mustBuild(makeConfig({
      RouteDef("exact").paths({"/a/b"}).methods({"GET"}),
      RouteDef("prefix").paths({"/a"}).header("x-v", {"1"}),
      RouteDef("tmpl").paths({"/u/{id}"}),
      RouteDef("regex").paths({"~/r[0-9]"}),
      RouteDef("host").hosts({"*.example.com"}).paths({"/h"}),
      RouteDef("any"),
  }));
  std::vector<Request> requests = {
      req("GET", "API.example.com:80", "/a/b"),
      req("POST", "x", "/a/b", {{"X-V", "1"}}),
      req("GET", "x.example.com", "/h/1"),
      req("GET", "nohost", "/r1/x"),
      req("GET", "a-very-long-host-name.example.org", "/nothing/here/at/all"),
  };
  std::vector<RequestView> views;
  for (const Request& r : requests) views.push_back(r.view());
  for (std::size_t i = 0; i < views.size(); ++i) {
    RouteMatch m;
    // Once to warm RE2's lazily built DFA cache (amortized, per regex), then counted.
    m = snapshot->router().match(views[i]);
    int allocations = testing::countAllocations([&] { m = snapshot->router().match(views[i]); });
    EXPECT_TRUE(m) << requests[i].path;
    EXPECT_EQ(allocations, 0) << requests[i].path;
  }
}

}  // namespace
}  // namespace turnpike::proxy
