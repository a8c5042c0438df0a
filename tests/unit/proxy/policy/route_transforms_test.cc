#include "proxy/policy/route_transforms.h"

#include <gtest/gtest.h>

#include <string>

namespace turnpike::proxy::policy {
namespace {

std::shared_ptr<const CompiledRequestTransform> compiled(const model::RequestTransform& t) {
  auto result = CompiledRequestTransform::compile(t);
  EXPECT_TRUE(result.ok());
  return *result;
}

TEST(RequestTransformTest, QueryParametersAreRemovedReplacedAndAppended) {
  auto t = compiled({.set_query = {{"v", "2"}, {"q", "a b/c"}}, .remove_query = {"debug"}});
  EXPECT_TRUE(t->editsQuery());
  EXPECT_EQ(t->rewriteQuery(""), "q=a%20b%2Fc&v=2");
  EXPECT_EQ(t->rewriteQuery("debug=1&x=1&v=1&debug&v=3"), "x=1&q=a%20b%2Fc&v=2");
  // Names compare as received: "Debug" and "debug%20" are other parameters.
  EXPECT_EQ(t->rewriteQuery("Debug=1&debug%20=2"), "Debug=1&debug%20=2&q=a%20b%2Fc&v=2");
  EXPECT_FALSE(compiled({})->editsQuery());
}

TEST(RequestTransformTest, PathRewriteKeepsTheQueryAndALeadingSlash) {
  auto t = compiled({.rewrite_path = model::PathRewrite{"^/api/v1/(.*)$", "/v2/\\1"}});
  std::string target = "/api/v1/orders/7?x=1&y=/api/v1/";
  EXPECT_TRUE(t->rewritePath(target));
  EXPECT_EQ(target, "/v2/orders/7?x=1&y=/api/v1/");
  target = "/other";
  EXPECT_FALSE(t->rewritePath(target));
  EXPECT_EQ(target, "/other");

  auto unanchored = compiled({.rewrite_path = model::PathRewrite{"old", "/new"}});
  target = "/a/old/b";
  EXPECT_TRUE(unanchored->rewritePath(target));
  EXPECT_EQ(target, "/a//new/b") << "the first match is replaced, nothing else";

  auto strip = compiled({.rewrite_path = model::PathRewrite{"^/x(.*)$", "/\\1"}});
  target = "/x";
  EXPECT_TRUE(strip->rewritePath(target));
  EXPECT_EQ(target, "/");
}

TEST(HeaderEditsTest, SetDropsTheReceivedFieldAndRenameKeepsTheValue) {
  HeaderEdits edits = compileHeaderEdits({{"x-set", "1"}}, {"cookie"}, {{"x-old", "x-new"}});
  std::string_view name;
  EXPECT_EQ(edits.decide("Cookie", &name), HeaderEdits::Action::kDrop);
  EXPECT_EQ(edits.decide("X-SET", &name), HeaderEdits::Action::kDrop);
  EXPECT_EQ(edits.decide("X-Old", &name), HeaderEdits::Action::kRename);
  EXPECT_EQ(name, "x-new");
  EXPECT_EQ(edits.decide("X-Other", &name), HeaderEdits::Action::kKeep);
  ASSERT_EQ(edits.set.size(), 1u);
  EXPECT_EQ(edits.set[0].first, "x-set");
  EXPECT_TRUE(compileHeaderEdits({}, {}).empty());

  // A rename onto a name set_headers writes: the set value is the only one.
  HeaderEdits onto_set = compileHeaderEdits({{"x-new", "set"}}, {}, {{"x-old", "x-new"}});
  EXPECT_EQ(onto_set.decide("X-Old", &name), HeaderEdits::Action::kDrop);
  EXPECT_EQ(onto_set.decide("X-New", &name), HeaderEdits::Action::kDrop);
  ASSERT_EQ(onto_set.set.size(), 1u);
}

TEST(ResponseTransformTest, ReshapesJsonAndLeavesOtherBodiesAlone) {
  model::ResponseTransform def;
  def.json = model::JsonShape{.deny = {"secret"}, .wrap = "data"};
  def.max_body_bytes = 100;
  auto t = CompiledResponseTransform::compile(def);
  ASSERT_NE(t->json(), nullptr);
  EXPECT_EQ(t->maxBodyBytes(), 100u);
  std::string body = R"({"id":1,"secret":"s"})";
  EXPECT_TRUE(reshapeJsonBody(*t->json(), body));
  EXPECT_EQ(body, R"({"data":{"id":1}})");
  std::string text = "not json {";
  EXPECT_FALSE(reshapeJsonBody(*t->json(), text));
  EXPECT_EQ(text, "not json {");
  std::string deep(200, '[');
  deep.append(200, ']');
  EXPECT_FALSE(reshapeJsonBody(*t->json(), deep)) << "deeper than the JSON depth limit";

  EXPECT_EQ(CompiledResponseTransform::compile({})->json(), nullptr) << "no shape, no parse";
}

}  // namespace
}  // namespace turnpike::proxy::policy
