#include "proxy/snapshot_builder.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "model/api_key.h"
#include "proxy_test_util.h"

namespace turnpike::proxy {
namespace {

using testing::kServiceId;
using testing::makeConfig;
using testing::makeService;
using testing::matchedName;
using testing::mustBuild;
using testing::req;
using testing::RouteDef;

// True when `r` failed with a field error on `field` whose message holds `text`.
::testing::AssertionResult hasFieldError(const model::Result<SnapshotConstSharedPtr>& r,
                                         std::string_view field, std::string_view text) {
  if (r.ok()) return ::testing::AssertionFailure() << "build succeeded";
  if (r.error().code != model::ErrorCode::kInvalid) {
    return ::testing::AssertionFailure() << "not kInvalid: " << r.error().message;
  }
  std::string seen;
  for (const model::FieldError& e : r.error().fields) {
    if (e.field == field && e.message.find(text) != std::string::npos) {
      return ::testing::AssertionSuccess();
    }
    seen += " {" + e.field + ": " + e.message + "}";
  }
  return ::testing::AssertionFailure()
         << "no error on " << field << " with '" << text << "'; got" << seen;
}

TEST(SnapshotBuilderTest, HttpsTargetsNeedTheServicesTlsContext) {
  // The contexts come with the TLS material (app/tls_snapshots.cc builds them); a build without
  // one for the service cannot serve its https targets, and says so on the target.
  model::Config config = makeConfig({RouteDef("r").paths({"/"})});
  config.services[0].targets = {{"http://10.0.0.5:8080", 100}, {"https://api.internal", 50}};
  EXPECT_TRUE(hasFieldError(SnapshotBuilder::build(config), "services[0].targets[1].url",
                            "no TLS context"));
}

TEST(SnapshotBuilderTest, Http2AndGrpcServicesAreProblemsOnTheirProtocol) {
  // model::parseService refuses them first; a configuration that reaches the builder another way
  // is not served with HTTP/1.1 to targets that expect HTTP/2.
  model::Config config = makeConfig({RouteDef("r").paths({"/"})});
  config.services[0].protocol = model::ServiceProtocol::kHttp2;
  auto http2 = SnapshotBuilder::build(config);
  EXPECT_TRUE(hasFieldError(
      http2, "services[0].protocol",
      "protocol \"http2\" (HTTP/2 to the targets) is not supported by this build yet"));
  ASSERT_FALSE(http2.ok());
  EXPECT_EQ(http2.error().message,
            "service 'svc': protocol \"http2\" (HTTP/2 to the targets) is not supported by this "
            "build yet");
  config.services[0].protocol = model::ServiceProtocol::kGrpc;
  EXPECT_TRUE(
      hasFieldError(SnapshotBuilder::build(config), "services[0].protocol",
                    "protocol \"grpc\" (gRPC over HTTP/2 to the targets) is not supported"));
}

TEST(SnapshotBuilderTest, ResolvesServicesAndTargets) {
  model::Config config = makeConfig({RouteDef("r").paths({"/"})}, 42);
  model::Service& service = config.services[0];
  service.targets = {{"http://10.0.0.5:8080", 100},
                     {"http://Backend.Internal", 0},
                     {"http://api.internal:8443", 50},
                     {"http://[::1]:9000/", 10}};
  service.load_balancing = model::LoadBalancing::kConsistentHash;
  service.hash_on = "header:X-User";
  service.connect_timeout_ms = 150;
  service.read_timeout_ms = 2500;
  service.retries = 4;
  service.idle_timeout_ms = 90000;

  auto snapshot = mustBuild(config);
  EXPECT_EQ(snapshot->version(), 42);
  ASSERT_EQ(snapshot->services().size(), 1u);
  const CompiledService& s = snapshot->services()[0];
  EXPECT_EQ(s.id(), kServiceId);
  EXPECT_EQ(s.name(), "svc");
  ASSERT_EQ(s.targets.size(), 4u);
  EXPECT_EQ(s.targets[0].host, "10.0.0.5");
  EXPECT_EQ(s.targets[0].port, 8080);
  EXPECT_EQ(s.targets[0].weight, 100);
  EXPECT_FALSE(s.targets[0].tls);
  EXPECT_EQ(s.targets[0].authority, "10.0.0.5:8080");
  EXPECT_EQ(s.targets[1].host, "backend.internal");
  EXPECT_EQ(s.targets[1].port, 80);
  EXPECT_EQ(s.targets[1].authority, "backend.internal");
  EXPECT_EQ(s.targets[2].port, 8443);
  EXPECT_EQ(s.targets[2].poolKey(), "http://api.internal:8443");
  EXPECT_EQ(s.targets[3].host, "::1");
  EXPECT_EQ(s.targets[3].port, 9000);
  EXPECT_EQ(s.targets[3].authority, "[::1]:9000");
  EXPECT_EQ(s.targets[3].url, "http://[::1]:9000/");
  EXPECT_EQ(s.total_weight, 160);
  EXPECT_EQ(s.load_balancing, model::LoadBalancing::kConsistentHash);
  EXPECT_EQ(s.hash_on, HashOn::kHeader);
  EXPECT_EQ(s.hash_header, "x-user");
  EXPECT_EQ(s.connect_timeout, std::chrono::milliseconds(150));
  EXPECT_EQ(s.read_timeout, std::chrono::milliseconds(2500));
  EXPECT_EQ(s.protocol, model::ServiceProtocol::kHttp1);
  EXPECT_EQ(s.idle_timeout, std::chrono::milliseconds(90000));
  EXPECT_EQ(s.retries, 4);
  EXPECT_EQ(snapshot->findService("svc"), &s);
  EXPECT_EQ(snapshot->findService(kServiceId), &s);
  EXPECT_EQ(snapshot->findService("nope"), nullptr);
}

TEST(SnapshotBuilderTest, HashOnVariants) {
  struct Case {
    model::LoadBalancing lb;
    std::string hash_on;
    HashOn expected;
  };
  for (const Case& c : std::vector<Case>{
           {model::LoadBalancing::kRoundRobin, "", HashOn::kNone},
           {model::LoadBalancing::kConsistentHash, "", HashOn::kIp},
           {model::LoadBalancing::kConsistentHash, "ip", HashOn::kIp},
           {model::LoadBalancing::kConsistentHash, "consumer", HashOn::kConsumer},
       }) {
    model::Config config = makeConfig({});
    config.services[0].load_balancing = c.lb;
    config.services[0].hash_on = c.hash_on;
    auto snapshot = mustBuild(config);
    EXPECT_EQ(snapshot->services()[0].hash_on, c.expected) << c.hash_on;
  }
}

TEST(SnapshotBuilderTest, RoutesPointAtTheirServiceByIdOrName) {
  model::Config config = makeConfig(
      {RouteDef("by-id").paths({"/a"}), RouteDef("by-name").paths({"/b"}).service("other")});
  config.services.push_back(makeService("7b1c8c8e-0000-4000-8000-000000000002", "other"));
  auto snapshot = mustBuild(config);
  ASSERT_EQ(snapshot->routes().size(), 2u);
  EXPECT_EQ(snapshot->routes()[0].service->name(), "svc");
  EXPECT_EQ(snapshot->routes()[1].service->name(), "other");
  EXPECT_EQ(snapshot->routes()[1].index, 1u);
  EXPECT_EQ(snapshot->findRoute("by-name"), &snapshot->routes()[1]);
  EXPECT_EQ(snapshot->findRoute("id-by-id"), &snapshot->routes()[0]);
  EXPECT_EQ(snapshot->findRoute("missing"), nullptr);
  EXPECT_EQ(&snapshot->routes()[0].def->paths, &snapshot->config().routes[0].paths);
}

TEST(SnapshotBuilderTest, CopiesOrMovesTheConfig) {
  model::Config config = makeConfig({RouteDef("r").paths({"/x"})}, 9);
  auto copied = SnapshotBuilder::build(config);
  ASSERT_TRUE(copied.ok());
  EXPECT_EQ(config.routes.size(), 1u);  // input untouched
  EXPECT_EQ((*copied)->config(), config);
  auto moved = SnapshotBuilder::build(std::move(config));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ((*moved)->version(), 9);
  EXPECT_EQ(matchedName(**moved, req("GET", "h", "/x/1")), "r");
}

TEST(SnapshotBuilderTest, EmptySnapshot) {
  auto empty = SnapshotBuilder::empty();
  ASSERT_NE(empty, nullptr);
  EXPECT_EQ(empty->version(), 0);
  EXPECT_TRUE(empty->routes().empty());
  EXPECT_EQ(SnapshotBuilder::empty(), empty);  // shared
  EXPECT_GE(empty->buildDuration().count(), 0);
}

TEST(SnapshotBuilderTest, MissingServiceIsAnErrorNamingRouteAndField) {
  auto built = SnapshotBuilder::build(makeConfig(
      {RouteDef("ok").paths({"/"}), RouteDef("orders-api").paths({"/o"}).service("nope")}));
  EXPECT_TRUE(hasFieldError(built, "routes[1].service", "service 'nope' not found"));
  ASSERT_FALSE(built.ok());
  EXPECT_NE(built.error().message.find("route 'orders-api'"), std::string::npos)
      << built.error().message;
}

TEST(SnapshotBuilderTest, EmptyServiceIsAnError) {
  auto built = SnapshotBuilder::build(makeConfig({RouteDef("r").paths({"/"}).service("")}));
  EXPECT_TRUE(hasFieldError(built, "routes[0].service", "required"));
}

TEST(SnapshotBuilderTest, BadRegexIsAnError) {
  auto built =
      SnapshotBuilder::build(makeConfig({RouteDef("re").paths({"/fine", "~/v[0-9+/items"})}));
  EXPECT_TRUE(hasFieldError(built, "routes[0].paths[1]", "invalid regex"));
  EXPECT_NE(built.error().message.find("route 're'"), std::string::npos);
}

TEST(SnapshotBuilderTest, BadPathsAreErrors) {
  struct Case {
    std::string path;
    std::string message;
  };
  for (const Case& c : std::vector<Case>{
           {"orders", "must start with"},
           {"~orders", "must start with"},
           {"/users/{id", "whole segment"},
           {"/users/x{id}", "whole segment"},
           {"/users/{}", "whole segment"},
           {"/a/{id}/b/{id}", "duplicate"},
           {"/a b", "spaces"},
           {"/a?b=1", "'?'"},
       }) {
    auto built = SnapshotBuilder::build(makeConfig({RouteDef("r").paths({c.path})}));
    EXPECT_TRUE(hasFieldError(built, "routes[0].paths[0]", c.message)) << c.path;
  }
}

TEST(SnapshotBuilderTest, BadHostsAreErrors) {
  for (const std::string& host : {std::string("api.*.com"), std::string("*"),
                                  std::string("a.com:0"), std::string("a.com:99999"),
                                  std::string("a.com:"), std::string("a b.com"), std::string("")}) {
    auto built = SnapshotBuilder::build(makeConfig({RouteDef("r").hosts({host})}));
    EXPECT_TRUE(hasFieldError(built, "routes[0].hosts[0]", "")) << host;
  }
}

TEST(SnapshotBuilderTest, BadTargetsAreErrors) {
  for (const std::string& url :
       {std::string("ftp://a"), std::string("a.com:80"), std::string("http://"),
        std::string("http://a.com/path"), std::string("http://u@a.com"),
        std::string("http://a.com:0"), std::string("http://[::1")}) {
    model::Config config = makeConfig({});
    config.services[0].targets = {{"http://ok:1", 1}, {url, 1}};
    auto built = SnapshotBuilder::build(config);
    EXPECT_TRUE(hasFieldError(built, "services[0].targets[1].url", "")) << url;
  }
}

TEST(SnapshotBuilderTest, BadHashOnIsAnError) {
  model::Config config = makeConfig({});
  config.services[0].hash_on = "cookie";
  EXPECT_TRUE(hasFieldError(SnapshotBuilder::build(config), "services[0].hash_on", "hash_on"));
}

TEST(SnapshotBuilderTest, DuplicateIdsAndNamesAreErrors) {
  model::Config config =
      makeConfig({RouteDef("a").paths({"/a"}), RouteDef("b").paths({"/b"}).id("id-a"),
                  RouteDef("a").paths({"/c"}).id("id-c")});
  config.services.push_back(makeService(kServiceId, "svc2"));
  auto built = SnapshotBuilder::build(config);
  EXPECT_TRUE(hasFieldError(built, "routes[1].id", "duplicate"));
  EXPECT_TRUE(hasFieldError(built, "routes[2].name", "duplicate"));
  EXPECT_TRUE(hasFieldError(built, "services[1].id", "duplicate"));
}

TEST(SnapshotBuilderTest, CollectsEveryProblem) {
  model::Config config = makeConfig(
      {RouteDef("a").paths({"~(", "/ok", "~/[z-a]"}), RouteDef("b").hosts({"*"}).service("gone")});
  auto built = SnapshotBuilder::build(config);
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().fields.size(), 4u);
  EXPECT_NE(built.error().message.find("and 3 more problems"), std::string::npos)
      << built.error().message;
}

TEST(SnapshotBuilderTest, MethodsAndHeadersAreCompiled) {
  auto snapshot = mustBuild(makeConfig(
      {RouteDef("r").paths({"/"}).methods({"GET", "POST", "PURGE"}).header("x-a", {"1", "2"})}));
  const CompiledRoute& r = snapshot->routes()[0];
  EXPECT_TRUE(r.allowsMethod("GET"));
  EXPECT_TRUE(r.allowsMethod("POST"));
  EXPECT_TRUE(r.allowsMethod("PURGE"));
  EXPECT_FALSE(r.allowsMethod("PUT"));
  EXPECT_FALSE(r.allowsMethod("PURGEX"));
  EXPECT_EQ(r.constraintCount(), 2);
  ASSERT_EQ(r.headers.size(), 1u);
  EXPECT_EQ(r.headers[0].name, "x-a");
  EXPECT_EQ(r.headers[0].values.size(), 2u);
}

model::RateLimitPolicy makePolicy(std::string id, std::string name, int64_t limit) {
  model::RateLimitPolicy p;
  p.id = std::move(id);
  p.name = std::move(name);
  p.limit = limit;
  return p;
}

model::Consumer makeConsumer(std::string id, std::string username,
                             std::vector<std::string> groups = {},
                             std::vector<std::string> policies = {}) {
  model::Consumer c;
  c.id = std::move(id);
  c.username = std::move(username);
  c.groups = std::move(groups);
  c.rate_limit_policies = std::move(policies);
  return c;
}

model::ApiKey makeKey(std::string id, std::string consumer_id, std::string_view key) {
  model::ApiKey k;
  k.id = std::move(id);
  k.consumer_id = std::move(consumer_id);
  k.key_hash = model::sha256Hex(key);
  k.prefix = model::keyPrefix(key);
  return k;
}

// Two consumers (one with groups and policies), three keys (one orphaned), two policies.
model::Config consumersConfig() {
  model::Config config = makeConfig({RouteDef("r").paths({"/"})});
  config.rate_limit_policies = {makePolicy("p-1", "basic", 10), makePolicy("p-2", "gold", 1000)};
  config.consumers = {makeConsumer("c-1", "acme", {"partners", "eu"}, {"gold", "p-1"}),
                      makeConsumer("c-2", "solo")};
  config.api_keys = {makeKey("k-1", "c-1", "tpk_one_0123456789abcdef"),
                     makeKey("k-2", "c-1", "tpk_two_0123456789abcdef"),
                     makeKey("k-3", "c-2", "tpk_three_0123456789abcdef"),
                     makeKey("k-orphan", "c-missing", "tpk_orphan_0123456789abcdef")};
  return config;
}

TEST(SnapshotBuilderTest, KeysAreFoundByHash) {
  auto snapshot = mustBuild(consumersConfig());
  const KeyEntry* entry = snapshot->findKey(model::sha256Hex("tpk_two_0123456789abcdef"));
  ASSERT_NE(entry, nullptr);
  EXPECT_EQ(entry->key->id, "k-2");
  EXPECT_EQ(entry->key, &snapshot->config().api_keys[1]);
  ASSERT_NE(entry->consumer, nullptr);
  EXPECT_EQ(entry->consumer->username(), "acme");
  EXPECT_EQ(entry->consumer, snapshot->findConsumer("c-1"));
  EXPECT_EQ(snapshot->findKey(model::sha256Hex("tpk_three_0123456789abcdef"))->consumer->id(),
            "c-2");
  // Not by plaintext, prefix or id; an orphaned key is not indexed.
  EXPECT_EQ(snapshot->findKey("tpk_two_0123456789abcdef"), nullptr);
  EXPECT_EQ(snapshot->findKey("k-2"), nullptr);
  EXPECT_EQ(snapshot->findKey(model::sha256Hex("tpk_orphan_0123456789abcdef")), nullptr);
  EXPECT_EQ(snapshot->findKey(""), nullptr);
}

TEST(SnapshotBuilderTest, ConsumersAreFoundByIdWithGroupsAndPolicies) {
  auto snapshot = mustBuild(consumersConfig());
  ASSERT_EQ(snapshot->consumers().size(), 2u);
  const CompiledConsumer* acme = snapshot->findConsumer("c-1");
  ASSERT_NE(acme, nullptr);
  EXPECT_EQ(acme, &snapshot->consumers()[0]);
  EXPECT_EQ(acme->def, &snapshot->config().consumers[0]);
  EXPECT_EQ(acme->forwarded_fields,
            "X-Consumer-Id: c-1\r\nX-Consumer-Username: acme\r\n"
            "X-Consumer-Groups: partners,eu\r\n");
  EXPECT_TRUE(acme->inGroup("eu"));
  EXPECT_FALSE(acme->inGroup("EU"));
  ASSERT_EQ(acme->policies.size(), 2u);  // in the configured order, by name or id
  EXPECT_EQ(acme->policies[0]->name, "gold");
  EXPECT_EQ(acme->policies[1]->name, "basic");
  EXPECT_EQ(acme->policies[0], &snapshot->config().rate_limit_policies[1]);

  const CompiledConsumer* solo = snapshot->findConsumer("c-2");
  ASSERT_NE(solo, nullptr);
  EXPECT_EQ(solo->forwarded_fields, "X-Consumer-Id: c-2\r\nX-Consumer-Username: solo\r\n");
  EXPECT_TRUE(solo->policies.empty());
  EXPECT_EQ(solo->policies.capacity(), 0u);  // nothing allocated

  EXPECT_EQ(snapshot->findConsumer("acme"), nullptr);  // by id only
  EXPECT_EQ(snapshot->findConsumer("c-3"), nullptr);
}

TEST(SnapshotBuilderTest, ForwardedFieldsOfOneGroup) {
  model::Config config = consumersConfig();
  config.consumers[1].groups = {"solo-group"};
  auto snapshot = mustBuild(std::move(config));
  EXPECT_EQ(snapshot->findConsumer("c-2")->forwarded_fields,
            "X-Consumer-Id: c-2\r\nX-Consumer-Username: solo\r\nX-Consumer-Groups: solo-group\r\n");
}

TEST(SnapshotBuilderTest, PoliciesAreFoundByIdOrName) {
  auto snapshot = mustBuild(consumersConfig());
  const model::RateLimitPolicy* gold = snapshot->findPolicy("gold");
  ASSERT_NE(gold, nullptr);
  EXPECT_EQ(gold->limit, 1000);
  EXPECT_EQ(snapshot->findPolicy("p-2"), gold);
  EXPECT_EQ(snapshot->findPolicy("p-1")->name, "basic");
  EXPECT_EQ(snapshot->findPolicy("silver"), nullptr);
}

TEST(SnapshotBuilderTest, RoutePoliciesAreResolved) {
  model::Config config = consumersConfig();
  config.routes.push_back(RouteDef("limited").paths({"/l"}));
  config.routes[1].rate_limit_policies = {"p-1", "gold", "basic"};  // "basic" repeats p-1
  auto snapshot = mustBuild(std::move(config));
  const CompiledRoute& plain = snapshot->routes()[0];
  EXPECT_TRUE(plain.policies.empty());
  EXPECT_EQ(plain.policies.capacity(), 0u);  // a route without policies allocates nothing
  const CompiledRoute& limited = snapshot->routes()[1];
  ASSERT_EQ(limited.policies.size(), 2u);
  EXPECT_EQ(limited.policies[0], snapshot->findPolicy("p-1"));
  EXPECT_EQ(limited.policies[1], snapshot->findPolicy("p-2"));
}

TEST(SnapshotBuilderTest, UnknownPolicyReferenceIsAnErrorNamingTheField) {
  model::Config config = consumersConfig();
  config.routes[0].rate_limit_policies = {"gold", "platinum"};
  config.consumers[1].rate_limit_policies = {"nope"};
  auto built = SnapshotBuilder::build(std::move(config));
  EXPECT_TRUE(hasFieldError(built, "routes[0].rate_limit_policies[1]",
                            "rate-limit policy 'platinum' not found"));
  EXPECT_TRUE(hasFieldError(built, "consumers[1].rate_limit_policies[0]",
                            "rate-limit policy 'nope' not found"));
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().fields.size(), 2u);
  EXPECT_NE(built.error().message.find("consumer 'solo'"), std::string::npos)
      << built.error().message;
}

TEST(SnapshotBuilderTest, DuplicateConsumersPoliciesAndKeysAreErrors) {
  model::Config config = consumersConfig();
  config.consumers.push_back(makeConsumer("c-1", "again"));
  config.rate_limit_policies.push_back(makePolicy("p-1", "other", 1));
  config.rate_limit_policies.push_back(makePolicy("p-3", "gold", 1));
  config.api_keys.push_back(makeKey("k-dup", "c-2", "tpk_one_0123456789abcdef"));
  auto built = SnapshotBuilder::build(std::move(config));
  EXPECT_TRUE(hasFieldError(built, "consumers[2].id", "duplicate"));
  EXPECT_TRUE(hasFieldError(built, "rate_limit_policies[2].id", "duplicate"));
  EXPECT_TRUE(hasFieldError(built, "rate_limit_policies[3].name", "duplicate"));
  EXPECT_TRUE(hasFieldError(built, "api_keys[4].key_hash", "duplicate"));
}

}  // namespace
}  // namespace turnpike::proxy
