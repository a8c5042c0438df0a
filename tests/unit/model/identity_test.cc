#include "model/identity.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace turnpike::model {
namespace {

using nlohmann::json;

TEST(IdentityTest, NewUuidIsVersion4LowerCase) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = newUuid();
    ASSERT_EQ(id.size(), 36u);
    ASSERT_TRUE(isUuid(id)) << id;
    EXPECT_EQ(id[14], '4') << id;
    EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos) << id;
    for (char c : id) ASSERT_FALSE(c >= 'A' && c <= 'Z') << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(IdentityTest, IsUuid) {
  EXPECT_TRUE(isUuid("123e4567-e89b-42d3-a456-426614174000"));
  EXPECT_TRUE(isUuid("123E4567-E89B-42D3-A456-426614174000"));
  EXPECT_TRUE(isUuid("00000000-0000-0000-0000-000000000000"));
  EXPECT_FALSE(isUuid(""));
  EXPECT_FALSE(isUuid("123e4567e89b42d3a456426614174000"));
  EXPECT_FALSE(isUuid("{123e4567-e89b-42d3-a456-426614174000}"));
  EXPECT_FALSE(isUuid("123e4567-e89b-42d3-a456-42661417400"));
  EXPECT_FALSE(isUuid("123e4567-e89b-42d3-a456-4266141740000"));
  EXPECT_FALSE(isUuid("123e4567-e89b-42d3-a456_426614174000"));
  EXPECT_FALSE(isUuid("g23e4567-e89b-42d3-a456-426614174000"));
}

TEST(IdentityTest, IsValidName) {
  EXPECT_TRUE(isValidName("orders"));
  EXPECT_TRUE(isValidName("Orders.v2_beta~x-y"));
  EXPECT_TRUE(isValidName("a"));
  EXPECT_TRUE(isValidName(std::string(128, 'n')));
  EXPECT_FALSE(isValidName(std::string(129, 'n')));
  EXPECT_FALSE(isValidName(""));
  EXPECT_FALSE(isValidName("a b"));
  EXPECT_FALSE(isValidName("a/b"));
  EXPECT_FALSE(isValidName("ü"));
  EXPECT_FALSE(isValidName("a@b"));
  EXPECT_TRUE(isValidName("a@b", /*allow_at=*/true));
  EXPECT_FALSE(isValidName("123e4567-e89b-42d3-a456-426614174000"));
  EXPECT_FALSE(isValidName("123e4567-e89b-42d3-a456-426614174000", true));
}

TEST(IdentityTest, EtagIsAQuotedDigest) {
  std::string tag = etagOf({{"name", "orders"}});
  ASSERT_EQ(tag.size(), 18u);
  EXPECT_EQ(tag.front(), '"');
  EXPECT_EQ(tag.back(), '"');
  for (char c : tag.substr(1, 16)) {
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << tag;
  }
}

TEST(IdentityTest, EtagIsFnv1aOfTheDump) {
  // json(1).dump() is "1", and FNV-1a 64 of "1" is af63ac4c86019afc.
  EXPECT_EQ(etagOf(json(1)), "\"af63ac4c86019afc\"");
}

TEST(IdentityTest, EtagFollowsContentNotKeyOrder) {
  json a = json::parse(R"({"name": "orders", "retries": 2, "tags": ["x"]})");
  json b = json::parse(R"({"tags": ["x"], "retries": 2, "name": "orders"})");
  EXPECT_EQ(etagOf(a), etagOf(b));
  json c = a;
  c["retries"] = 3;
  EXPECT_NE(etagOf(a), etagOf(c));
  json d = a;
  d["tags"] = {"y"};
  EXPECT_NE(etagOf(a), etagOf(d));
  EXPECT_NE(etagOf(json::object()), etagOf(json::array()));
}

TEST(IdentityTest, EtagDoesNotThrowOnInvalidUtf8) {
  json bad = std::string("\xff\xfe");
  EXPECT_NO_THROW({ EXPECT_EQ(etagOf(bad).size(), 18u); });
}

}  // namespace
}  // namespace turnpike::model
