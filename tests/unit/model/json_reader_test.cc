#include "model/json_reader.h"

#include <gtest/gtest.h>

#include <limits>

namespace turnpike::model {
namespace {

using nlohmann::json;

TEST(JsonReaderTest, IntegersFromJson) {
  EXPECT_EQ(jsonToInt64(json(5)), 5);
  EXPECT_EQ(jsonToInt64(json(-5)), -5);
  EXPECT_EQ(jsonToInt64(json(1e3)), 1000);
  EXPECT_EQ(jsonToInt64(json(-0.0)), 0);
  EXPECT_EQ(jsonToInt64(json(std::numeric_limits<int64_t>::max())),
            std::numeric_limits<int64_t>::max());
  EXPECT_EQ(jsonToInt64(json(std::numeric_limits<int64_t>::min())),
            std::numeric_limits<int64_t>::min());
  EXPECT_FALSE(jsonToInt64(json(1.5)));
  EXPECT_FALSE(jsonToInt64(json(1e19)));
  EXPECT_FALSE(jsonToInt64(json(std::numeric_limits<uint64_t>::max())));
  EXPECT_FALSE(jsonToInt64(json(std::numeric_limits<double>::infinity())));
  EXPECT_FALSE(jsonToInt64(json("1")));
  EXPECT_FALSE(jsonToInt64(json(true)));
  EXPECT_FALSE(jsonToInt64(json(nullptr)));
}

TEST(JsonReaderTest, NestedReadersNameFullPaths) {
  FieldErrors errors;
  json doc = {{"a", {{"b", "x"}, {"c", 1}}}};
  JsonReader top(doc, "", &errors);
  JsonReader inner(*top.get("a"), top.path("a"), &errors);
  int value = 0;
  inner.readInt("b", 0, 10, &value);
  inner.finish();
  top.finish();
  EXPECT_EQ(errors, (FieldErrors{{"a.b", "must be an integer"}, {"a.c", "unknown field"}}));
}

TEST(JsonReaderTest, AbsentAndNullLeaveDefaults) {
  FieldErrors errors;
  json doc = {{"n", nullptr}};
  JsonReader r(doc, "", &errors);
  int n = 7;
  std::string s = "keep";
  EXPECT_FALSE(r.readInt("n", 0, 10, &n));
  EXPECT_FALSE(r.readString("s", &s));
  r.finish();
  EXPECT_TRUE(errors.empty());
  EXPECT_EQ(n, 7);
  EXPECT_EQ(s, "keep");
}

TEST(JsonReaderTest, RangeMessages) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  EXPECT_EQ(rangeMessage(0, kMax), "must be a non-negative integer");
  EXPECT_EQ(rangeMessage(1, kMax), "must be a positive integer");
  EXPECT_EQ(rangeMessage(5, kMax), "must be at least 5");
  EXPECT_EQ(rangeMessage(0, 10), "must be between 0 and 10");
}

TEST(JsonReaderTest, PrefixErrors) {
  FieldErrors out;
  prefixErrors("routes[3]", {{"paths[0]", "m"}, {"", "whole"}, {"[1]", "i"}}, &out);
  EXPECT_EQ(out, (FieldErrors{
                     {"routes[3].paths[0]", "m"}, {"routes[3]", "whole"}, {"routes[3][1]", "i"}}));
}

}  // namespace
}  // namespace turnpike::model
