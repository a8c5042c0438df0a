#include "proxy/policy/json_shape.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace turnpike::proxy::policy {
namespace {

using Json = nlohmann::json;

model::JsonShape makeShape(std::vector<std::string> allow, std::vector<std::string> deny = {},
                           std::map<std::string, std::string> rename = {}, std::string wrap = {}) {
  model::JsonShape shape;
  shape.allow = std::move(allow);
  shape.deny = std::move(deny);
  shape.rename = std::move(rename);
  shape.wrap = std::move(wrap);
  return shape;
}

Json reshape(const model::JsonShape& shape, std::string_view document) {
  Json body = Json::parse(document);
  CompiledJsonShape::compile(shape).apply(body);
  return body;
}

TEST(JsonShapeTest, AllowKeepsOnlyTheNamedPaths) {
  EXPECT_EQ(reshape(makeShape({"id", "items.name"}),
                    R"({"id":1,"secret":2,"items":[{"name":"a","price":3},{"name":"b"}]})"),
            Json::parse(R"({"id":1,"items":[{"name":"a"},{"name":"b"}]})"));
}

TEST(JsonShapeTest, AllowKeepsTheEndOfAPathWhole) {
  EXPECT_EQ(reshape(makeShape({"user", "tags"}),
                    R"({"user":{"id":1,"roles":["a"]},"tags":["x",{"y":1}],"other":{}})"),
            Json::parse(R"({"user":{"id":1,"roles":["a"]},"tags":["x",{"y":1}]})"));
}

TEST(JsonShapeTest, AllowShorterPathWins) {
  const char* document = R"({"a":{"b":1,"c":2},"d":3})";
  const Json expected = Json::parse(R"({"a":{"b":1,"c":2}})");
  EXPECT_EQ(reshape(makeShape({"a", "a.b"}), document), expected);
  EXPECT_EQ(reshape(makeShape({"a.b", "a"}), document), expected);
  EXPECT_EQ(reshape(makeShape({"a.b", "a.b.c", "a.c"}), document),
            Json::parse(R"({"a":{"b":1,"c":2}})"));
}

TEST(JsonShapeTest, AllowDropsScalarsWhereThePathGoesDeeper) {
  EXPECT_EQ(reshape(makeShape({"a.b", "c.d", "n.x", "s.x", "keep"}),
                    R"({"a":5,"c":{"d":1,"e":2},"n":null,"s":"text","keep":true,"f":3})"),
            Json::parse(R"({"c":{"d":1},"keep":true})"));
  // Scalar elements of an array the path goes through are dropped; the array stays.
  EXPECT_EQ(reshape(makeShape({"id", "tags.name"}), R"({"id":1,"tags":["x",{"name":"y"},2]})"),
            Json::parse(R"({"id":1,"tags":[{"name":"y"}]})"));
}

TEST(JsonShapeTest, AllowFiltersARootArrayElementWise) {
  EXPECT_EQ(reshape(makeShape({"id"}),
                    R"([{"id":1,"x":2},{"id":2},{"x":3},3,"s",null,[{"id":4,"y":1},5]])"),
            Json::parse(R"([{"id":1},{"id":2},{},[{"id":4}]])"));
}

TEST(JsonShapeTest, AllowFiltersNestedArrays) {
  EXPECT_EQ(reshape(makeShape({"m.a", "page"}),
                    R"({"m":[[{"a":1,"b":2}],[{"a":3},4,[{"b":5}]]],"page":{"n":1},"x":0})"),
            Json::parse(R"({"m":[[{"a":1}],[{"a":3},[{}]]],"page":{"n":1}})"));
  EXPECT_EQ(reshape(makeShape({"orders.lines.sku"}),
                    R"({"orders":[{"id":1,"lines":[{"sku":"a","qty":2},{"qty":1}]},{"id":2}]})"),
            Json::parse(R"({"orders":[{"lines":[{"sku":"a"},{}]},{}]})"));
}

TEST(JsonShapeTest, AllowOfMissingPathsLeavesAnEmptyObject) {
  EXPECT_EQ(reshape(makeShape({"nope", "a.nope"}), R"({"a":{"b":1},"c":2})"),
            Json::parse(R"({"a":{}})"));
}

TEST(JsonShapeTest, ScalarRootIsUntouched) {
  const model::JsonShape shape = makeShape({"a"}, {"a"}, {{"a", "b"}});
  for (const char* document : {R"("text")", "42", "1.5", "true", "null"}) {
    EXPECT_EQ(reshape(shape, document), Json::parse(document)) << document;
  }
  // wrap still applies.
  EXPECT_EQ(reshape(makeShape({"a"}, {}, {}, "data"), "42"), Json::parse(R"({"data":42})"));
}

TEST(JsonShapeTest, DenyRemovesTheNamedPaths) {
  EXPECT_EQ(reshape(makeShape({}, {"internal", "items.price", "meta.debug.trace"}),
                    R"({"id":1,"internal":{"x":1},"items":[{"name":"a","price":3},{"name":"b"},7],
                  "meta":{"debug":{"trace":"t","level":2},"v":1}})"),
            Json::parse(R"({"id":1,"items":[{"name":"a"},{"name":"b"},7],
                      "meta":{"debug":{"level":2},"v":1}})"));
}

TEST(JsonShapeTest, DenyIgnoresMissingPaths) {
  const char* document = R"({"id":1,"a":{"b":[1,2]},"s":"x"})";
  EXPECT_EQ(reshape(makeShape({}, {"nope", "id.x", "a.c", "a.b.c", "s.x.y"}), document),
            Json::parse(document));
}

TEST(JsonShapeTest, DenyWalksRootAndNestedArrays) {
  EXPECT_EQ(reshape(makeShape({}, {"secret", "rows.secret"}),
                    R"([{"id":1,"secret":2},[{"secret":3,"rows":[[{"secret":4,"k":5}]]}],"x"])"),
            Json::parse(R"([{"id":1},[{"rows":[[{"k":5}]]}],"x"])"));
}

TEST(JsonShapeTest, DenyShorterPathWins) {
  EXPECT_EQ(reshape(makeShape({}, {"a.b", "a"}), R"({"a":{"b":1,"c":2},"d":3})"),
            Json::parse(R"({"d":3})"));
}

TEST(JsonShapeTest, RenameRenamesInPlaceAndInArrays) {
  EXPECT_EQ(
      reshape(makeShape({}, {}, {{"usr", "user"}, {"items.nm", "name"}, {"meta.v", "version"}}),
              R"({"usr":"ann","items":[{"nm":"a","p":1},{"p":2},3],"meta":{"v":2,"w":3}})"),
      Json::parse(R"({"user":"ann","items":[{"name":"a","p":1},{"p":2},3],
                      "meta":{"version":2,"w":3}})"));
  // On a root array, element-wise.
  EXPECT_EQ(reshape(makeShape({}, {}, {{"nm", "name"}}), R"([{"nm":1},[{"nm":2}],{"x":3}])"),
            Json::parse(R"([{"name":1},[{"name":2}],{"x":3}])"));
}

TEST(JsonShapeTest, RenameOverwritesAnExistingMember) {
  EXPECT_EQ(reshape(makeShape({}, {}, {{"a", "b"}}), R"({"a":1,"b":{"old":true}})"),
            Json::parse(R"({"b":1})"));
  EXPECT_EQ(reshape(makeShape({}, {}, {{"x.a", "b"}}), R"({"x":[{"a":1,"b":2},{"b":3}]})"),
            Json::parse(R"({"x":[{"b":1},{"b":3}]})"));
}

TEST(JsonShapeTest, RenameToTheSameNameKeepsTheMember) {
  EXPECT_EQ(reshape(makeShape({}, {}, {{"a", "a"}}), R"({"a":1})"), Json::parse(R"({"a":1})"));
}

TEST(JsonShapeTest, RenameIgnoresMissingPaths) {
  const char* document = R"({"a":{"b":1},"s":"x","n":null})";
  EXPECT_EQ(reshape(makeShape({}, {}, {{"nope", "x"}, {"a.c", "x"}, {"s.t", "x"}, {"n.m", "x"}}),
                    document),
            Json::parse(document));
}

TEST(JsonShapeTest, RenamePathsNameTheUpstreamMembers) {
  // A child and its parent both renamed: the child's path uses the parent's upstream name.
  EXPECT_EQ(reshape(makeShape({}, {}, {{"a", "x"}, {"a.b", "y"}}), R"({"a":{"b":1}})"),
            Json::parse(R"({"x":{"y":1}})"));
  // Renames do not chain: "b" is renamed before "a" becomes "b".
  EXPECT_EQ(reshape(makeShape({}, {}, {{"a", "b"}, {"b", "c"}}), R"({"a":1})"),
            Json::parse(R"({"b":1})"));
}

TEST(JsonShapeTest, WrapPutsTheDocumentUnderOneKey) {
  EXPECT_EQ(reshape(makeShape({}, {}, {}, "data"), R"({"a":1})"),
            Json::parse(R"({"data":{"a":1}})"));
  EXPECT_EQ(reshape(makeShape({}, {}, {}, "items"), "[1,2]"), Json::parse(R"({"items":[1,2]})"));
  EXPECT_EQ(reshape(makeShape({}, {}, {}, "data"), "null"), Json::parse(R"({"data":null})"));
}

TEST(JsonShapeTest, StepsRunAllowDenyRenameWrap) {
  // allow sees the upstream's names ("user", not "owner") and keeps "items.price" for deny to
  // remove; rename's new names need not be allowed; wrap comes last, so no path mentions it.
  const model::JsonShape shape =
      makeShape({"id", "user", "items.name", "items.price"}, {"items.price"},
                {{"user", "owner"}, {"items.name", "title"}}, "data");
  EXPECT_EQ(
      reshape(shape,
              R"({"id":1,"user":"u","secret":"s","items":[{"name":"a","price":3,"sku":"x"}]})"),
      Json::parse(R"({"data":{"id":1,"owner":"u","items":[{"title":"a"}]}})"));
  // deny after allow: a path both allow and deny name is removed.
  EXPECT_EQ(reshape(makeShape({"a", "b"}, {"a"}), R"({"a":1,"b":2,"c":3})"),
            Json::parse(R"({"b":2})"));
  // rename after deny: deny names the upstream's member, not the renamed one.
  EXPECT_EQ(reshape(makeShape({}, {"b"}, {{"a", "b"}}), R"({"a":1,"b":2})"),
            Json::parse(R"({"b":1})"));
}

TEST(JsonShapeTest, OneCompiledShapeServesManyDocuments) {
  const CompiledJsonShape shape = CompiledJsonShape::compile(makeShape({"id"}, {}, {}, "data"));
  for (int i = 0; i < 3; ++i) {
    Json body = Json::parse(R"({"id":)" + std::to_string(i) + R"(,"x":true})");
    shape.apply(body);
    EXPECT_EQ(body, Json::parse(R"({"data":{"id":)" + std::to_string(i) + "}}"));
  }
}

TEST(JsonShapeTest, Empty) {
  EXPECT_TRUE(CompiledJsonShape().empty());
  EXPECT_TRUE(CompiledJsonShape::compile(model::JsonShape{}).empty());
  EXPECT_FALSE(CompiledJsonShape::compile(makeShape({"a"})).empty());
  EXPECT_FALSE(CompiledJsonShape::compile(makeShape({}, {"a"})).empty());
  EXPECT_FALSE(CompiledJsonShape::compile(makeShape({}, {}, {{"a", "b"}})).empty());
  EXPECT_FALSE(CompiledJsonShape::compile(makeShape({}, {}, {}, "data")).empty());

  const char* document = R"({"a":[1,{"b":null}],"c":"d"})";
  EXPECT_EQ(reshape(model::JsonShape{}, document), Json::parse(document));
}

// An upstream may nest arrays far deeper than any stack allows recursion for; apply() walks them
// with a heap stack. (Only the leaf is compared: operator== and dump() recurse.)
TEST(JsonShapeTest, DeeplyNestedArraysAreWalkedWithoutRecursion) {
  constexpr int kDepth = 20'000;
  std::string document(kDepth, '[');
  document += R"({"a":1,"b":2,"c":3})";
  document.append(kDepth, ']');
  Json body = Json::parse(document);
  CompiledJsonShape::compile(makeShape({"a", "b"}, {"b"}, {{"a", "z"}})).apply(body);

  const Json* at = &body;
  for (int depth = 0; depth < kDepth; ++depth) {
    ASSERT_TRUE(at->is_array()) << depth;
    ASSERT_EQ(at->size(), 1u) << depth;
    at = &(*at)[0];
  }
  EXPECT_EQ(*at, Json::parse(R"({"z":1})"));
}

TEST(JsonMediaTypeTest, Json) {
  for (std::string_view type : {
           "application/json",
           "APPLICATION/JSON",
           "application/json; charset=utf-8",
           "Application/JSON ;charset=UTF-8",
           " application/json\t",
           "application/json;",
           "application/json\t; q=1",
           "text/json",
           "Text/Json; charset=utf-8",
           "application/problem+json",
           "application/vnd.api+json",
           "APPLICATION/PROBLEM+JSON",
           "application/merge-patch+json; charset=utf-8",
           "image/foo+json",
       }) {
    EXPECT_TRUE(isJsonMediaType(type)) << type;
  }
}

TEST(JsonMediaTypeTest, NotJson) {
  for (std::string_view type : {
           "",
           " ",
           ";",
           "json",
           "application/",
           "/json",
           "application/jsonp",
           "application/json-seq",
           "application/x-json-stream",
           "application/geo+json-seq",
           "application/+json",
           "application/xjson",
           "text/html",
           "text/plain; charset=json",
           "image/json",
           "application /json",
           "application/ json",
           "application/json x",
           "application/json/x",
       }) {
    EXPECT_FALSE(isJsonMediaType(type)) << type;
  }
}

TEST(MergeAggregateTest, GroupsAndTopLevelMembersInOrder) {
  Json user = Json::parse(R"({"id":1,"name":"ann"})");
  Json orders = Json::parse(R"([{"n":1},{"n":2}])");
  Json prefs = Json::parse(R"({"theme":"dark"})");
  std::vector<AggregatePart> parts = {{"", &user}, {"orders", &orders}, {"settings", &prefs}};
  EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"id":1,"name":"ann","orders":[{"n":1},{"n":2}],
                            "settings":{"theme":"dark"}})"));
}

TEST(MergeAggregateTest, LaterPartWinsACollision) {
  const char* first = R"({"id":1,"name":"first","a":true})";
  const char* second = R"({"name":"second","b":false})";
  {
    Json one = Json::parse(first);
    Json two = Json::parse(second);
    std::vector<AggregatePart> parts = {{"", &one}, {"", &two}};
    EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"id":1,"name":"second","a":true,"b":false})"));
  }
  {
    // The order given decides, whichever body was ready first.
    Json one = Json::parse(first);
    Json two = Json::parse(second);
    std::vector<AggregatePart> parts = {{"", &two}, {"", &one}};
    EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"id":1,"name":"first","a":true,"b":false})"));
  }
}

TEST(MergeAggregateTest, GroupAndMemberOfTheSameNameLaterWins) {
  {
    Json top = Json::parse(R"({"user":1,"x":2})");
    Json grouped = Json::parse(R"({"id":7})");
    std::vector<AggregatePart> parts = {{"", &top}, {"user", &grouped}};
    EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"user":{"id":7},"x":2})"));
  }
  {
    Json top = Json::parse(R"({"user":1,"x":2})");
    Json grouped = Json::parse(R"({"id":7})");
    std::vector<AggregatePart> parts = {{"user", &grouped}, {"", &top}};
    EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"user":1,"x":2})"));
  }
  {
    Json one = Json::parse("[1]");
    Json two = Json::parse("[2]");
    std::vector<AggregatePart> parts = {{"g", &one}, {"g", &two}};
    EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"g":[2]})"));
  }
}

TEST(MergeAggregateTest, GroupTakesAnyValue) {
  Json array = Json::parse("[1,[2],{}]");
  Json text = Json::parse(R"("hello")");
  Json null_value = Json::parse("null");
  std::vector<AggregatePart> parts = {{"list", &array}, {"text", &text}, {"nothing", &null_value}};
  EXPECT_EQ(mergeAggregate(parts),
            Json::parse(R"({"list":[1,[2],{}],"text":"hello","nothing":null})"));
}

TEST(MergeAggregateTest, FailedBackendsContributeNothing) {
  Json user = Json::parse(R"({"id":1})");
  std::vector<AggregatePart> parts = {{"orders", nullptr}, {"", &user}, {"", nullptr}};
  EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"id":1})"));
}

TEST(MergeAggregateTest, UngroupedNonObjectsAreSkipped) {
  Json array = Json::parse("[1,2]");
  Json text = Json::parse(R"("s")");
  Json null_value = Json::parse("null");
  Json object = Json::parse(R"({"ok":true})");
  std::vector<AggregatePart> parts = {{"", &array}, {"", &text}, {"", &null_value}, {"", &object}};
  EXPECT_EQ(mergeAggregate(parts), Json::parse(R"({"ok":true})"));
}

TEST(MergeAggregateTest, NothingToMergeIsAnEmptyObject) {
  EXPECT_EQ(mergeAggregate({}), Json::object());
  std::vector<AggregatePart> parts = {{"a", nullptr}, {"", nullptr}};
  EXPECT_EQ(mergeAggregate(parts), Json::object());
}

}  // namespace
}  // namespace turnpike::proxy::policy
