// AdminAuth and setUpAdminToken: who gets in, and where the token comes from.
#include "admin/admin_auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "admin_test_util.h"
#include "model/api_key.h"

namespace turnpike::admin {
namespace {

using ::testing::MatchesRegex;

TEST(AdminAuthTest, AllowsOnlyTheBearerOfTheToken) {
  AdminAuth auth(model::sha256Hex("s3cret-token"));
  EXPECT_TRUE(auth.allows("Bearer s3cret-token"));
  EXPECT_TRUE(auth.allows("bearer s3cret-token"));  // the scheme is case-insensitive
  EXPECT_TRUE(auth.allows("Bearer  s3cret-token "));
  EXPECT_FALSE(auth.allows("Bearer S3CRET-TOKEN"));  // the token is not
  EXPECT_FALSE(auth.allows("Bearer s3cret-token2"));
  EXPECT_FALSE(auth.allows("Bearer "));
  EXPECT_FALSE(auth.allows("Bearer"));
  EXPECT_FALSE(auth.allows(""));
  EXPECT_FALSE(auth.allows("s3cret-token"));
  EXPECT_FALSE(auth.allows("Basic s3cret-token"));
  EXPECT_FALSE(auth.allows("Bearers3cret-token"));
}

TEST(AdminAuthTest, WithoutAHashNobodyGetsIn) {
  AdminAuth auth("");
  EXPECT_FALSE(auth.allows("Bearer "));
  EXPECT_FALSE(auth.allows("Bearer anything"));
}

class AdminTokenSetupTest : public ::testing::Test {
 protected:
  testing::TempDir dir_;
};

TEST_F(AdminTokenSetupTest, EnvironmentTokenWinsAndIsStoredHashed) {
  auto store = testing::openStore(dir_.file("t.db"));
  ASSERT_NE(store, nullptr);
  auto setup = setUpAdminToken(*store, "from-the-environment");
  ASSERT_TRUE(setup.ok()) << setup.error().message;
  EXPECT_EQ(setup->token_hash, model::sha256Hex("from-the-environment"));
  EXPECT_TRUE(setup->new_token.empty());
  auto stored = store->adminTokenHash();
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(*stored, model::sha256Hex("from-the-environment"));

  // A later start with another environment token replaces the hash.
  auto again = setUpAdminToken(*store, "rotated-token");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->token_hash, model::sha256Hex("rotated-token"));
  EXPECT_EQ(**store->adminTokenHash(), model::sha256Hex("rotated-token"));
  EXPECT_TRUE(AdminAuth(again->token_hash).allows("Bearer rotated-token"));
  EXPECT_FALSE(AdminAuth(again->token_hash).allows("Bearer from-the-environment"));
}

TEST_F(AdminTokenSetupTest, FirstStartMakesATokenOnceAndKeepsOnlyItsHash) {
  std::string path = dir_.file("t.db");
  std::string token;
  std::string hash;
  {
    auto store = testing::openStore(path);
    ASSERT_NE(store, nullptr);
    auto setup = setUpAdminToken(*store, "");
    ASSERT_TRUE(setup.ok()) << setup.error().message;
    token = setup->new_token;
    hash = setup->token_hash;
    EXPECT_THAT(token, MatchesRegex("tpa_[0-9A-Za-z]{43,}"));
    EXPECT_EQ(hash, model::sha256Hex(token));
    EXPECT_TRUE(AdminAuth(hash).allows("Bearer " + token));
  }
  {
    // Second start (same file): the stored hash, and no new token to print.
    auto store = testing::openStore(path);
    ASSERT_NE(store, nullptr);
    auto setup = setUpAdminToken(*store, "");
    ASSERT_TRUE(setup.ok());
    EXPECT_TRUE(setup->new_token.empty());
    EXPECT_EQ(setup->token_hash, hash);
  }
  // The token itself is nowhere in the database file.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  ASSERT_NE(f, nullptr);
  std::string bytes;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) bytes.append(buf, n);
  std::fclose(f);
  EXPECT_EQ(bytes.find(token), std::string::npos);
}

TEST_F(AdminTokenSetupTest, GeneratedTokensDiffer) {
  auto a = testing::openStore(dir_.file("a.db"));
  auto b = testing::openStore(dir_.file("b.db"));
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto ta = setUpAdminToken(*a, "");
  auto tb = setUpAdminToken(*b, "");
  ASSERT_TRUE(ta.ok() && tb.ok());
  EXPECT_NE(ta->new_token, tb->new_token);
}

}  // namespace
}  // namespace turnpike::admin
