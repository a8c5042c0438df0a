#include "model/json_depth.h"

#include <gtest/gtest.h>

#include <string>

namespace turnpike::model {
namespace {

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(JsonDepthTest, CountsArraysAndObjectsUpToTheLimit) {
  EXPECT_FALSE(jsonNestsDeeperThan(nested(64), 64));
  EXPECT_TRUE(jsonNestsDeeperThan(nested(65), 64));
  EXPECT_TRUE(jsonNestsDeeperThan(R"({"a":{"b":[{"c":1}]}})", 3));
  EXPECT_FALSE(jsonNestsDeeperThan(R"({"a":{"b":[{"c":1}]}})", 4));
  // Siblings do not add up: depth is how deep, not how many.
  EXPECT_FALSE(jsonNestsDeeperThan("[[1],[2],[3],{\"a\":4}]", 2));
}

TEST(JsonDepthTest, BracketsInsideStringsDoNotCount) {
  EXPECT_FALSE(jsonNestsDeeperThan(R"({"a":"[[[[[[[[[[{{{{{"})", 1));
  // An escaped quote does not end the string.
  EXPECT_FALSE(jsonNestsDeeperThan(R"(["\"[[[[[[", 1])", 1));
  EXPECT_TRUE(jsonNestsDeeperThan(R"(["\\", [[1]]])", 2));
}

TEST(JsonDepthTest, AMegabyteOfOpeningBracketsIsCaughtEarly) {
  EXPECT_TRUE(jsonNestsDeeperThan(std::string(1 << 20, '['), kMaxJsonDepth));
}

}  // namespace
}  // namespace turnpike::model
