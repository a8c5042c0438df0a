#include "model/api_key.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "tests/unit/model/model_test_util.h"

namespace turnpike::model {
namespace {

using nlohmann::json;
using testing::expectRule;
using testing::RuleCase;

const std::string kHashOfAbc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

class NewApiKeyRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(NewApiKeyRuleTest, ReportsTheField) {
  expectRule(parseNewApiKey, json::object(), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Rules, NewApiKeyRuleTest,
    ::testing::Values(
        RuleCase{"unknown_field", {{"consumer", "acme"}}, "consumer", "unknown field"},
        RuleCase{"id_not_uuid", {{"id", "k1"}}, "id", "must be a UUID"},
        RuleCase{"key_not_string", {{"key", 12345}}, "key", "must be a string"},
        RuleCase{"key_empty", {{"key", ""}}, "key", "20 to 256"},
        RuleCase{"key_too_short", {{"key", std::string(19, 'k')}}, "key", "20 to 256"},
        RuleCase{"key_too_long", {{"key", std::string(257, 'k')}}, "key", "20 to 256"},
        RuleCase{"key_space", {{"key", "abcdefghij klmnopqrstu"}}, "key", "without spaces"},
        RuleCase{"key_control", {{"key", "abcdefghij\tklmnopqrstu"}}, "key", "printable"},
        RuleCase{"key_non_ascii", {{"key", "abcdefghijklmnopqrstü"}}, "key", "printable ASCII"},
        RuleCase{"expires_at_zero", {{"expires_at", 0}}, "expires_at", "positive integer"},
        RuleCase{"expires_at_negative", {{"expires_at", -1}}, "expires_at", "positive integer"},
        RuleCase{"expires_at_fraction", {{"expires_at", 1.5}}, "expires_at", "must be an integer"},
        RuleCase{
            "expires_at_string", {{"expires_at", "tomorrow"}}, "expires_at", "must be an integer"},
        RuleCase{"tags_not_array", {{"tags", "a"}}, "tags", "must be an array of strings"},
        RuleCase{"tag_comma", {{"tags", {"a,b"}}}, "tags[0]", "','"}),
    testing::caseName);

TEST(NewApiKeyTest, EmptyBodyMeansGenerate) {
  auto r = parseNewApiKey(json::object());
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "");
  EXPECT_EQ(r->key, "");
  EXPECT_FALSE(r->expires_at.has_value());
  EXPECT_TRUE(r->tags.empty());
}

TEST(NewApiKeyTest, AcceptsEveryField) {
  std::string key = "legacy-key_0123456789~!";
  auto r = parseNewApiKey({{"id", "16fd2706-8baf-433b-82eb-8c7fada847da"},
                           {"key", key},
                           {"expires_at", 1900000000},
                           {"tags", {"migrated"}}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->id, "16fd2706-8baf-433b-82eb-8c7fada847da");
  EXPECT_EQ(r->key, key);
  EXPECT_EQ(r->expires_at, 1900000000);
  EXPECT_EQ(r->tags, std::vector<std::string>{"migrated"});
}

TEST(NewApiKeyTest, KeyLengthBoundsAreInclusive) {
  EXPECT_TRUE(parseNewApiKey({{"key", std::string(20, 'k')}}).ok());
  EXPECT_TRUE(parseNewApiKey({{"key", std::string(256, 'k')}}).ok());
}

TEST(NewApiKeyTest, NullsMeanAbsent) {
  auto r = parseNewApiKey({{"key", nullptr}, {"expires_at", nullptr}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->key, "");
  EXPECT_FALSE(r->expires_at.has_value());
}

TEST(NewApiKeyTest, BodyMustBeAnObject) {
  auto r = parseNewApiKey(json::array());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().fields, (FieldErrors{{"", "must be a JSON object"}}));
}

ApiKey fullKey() {
  ApiKey k;
  k.id = "9b2b2c3e-2d6f-4f6a-8d8c-1f0e2f3a4b5c";
  k.consumer_id = "16fd2706-8baf-433b-82eb-8c7fada847da";
  k.key_hash = kHashOfAbc;
  k.prefix = "tpk_AbC1";
  k.expires_at = 1900000000;
  k.tags = {"ci"};
  k.created_at = 1700000000;
  return k;
}

const json kExported = toJson(fullKey(), true);

class ExportedApiKeyRuleTest : public ::testing::TestWithParam<RuleCase> {};

TEST_P(ExportedApiKeyRuleTest, ReportsTheField) {
  expectRule(parseExportedApiKey, kExported, GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Rules, ExportedApiKeyRuleTest,
    ::testing::Values(
        RuleCase{"unknown_field", {{"key", "plaintext-key-0123456789"}}, "key", "unknown field"},
        RuleCase{"id_not_uuid", {{"id", "k"}}, "id", "must be a UUID"},
        RuleCase{"consumer_missing", {{"consumer", nullptr}}, "consumer", "is required"},
        RuleCase{
            "consumer_bad", {{"consumer", "a b"}}, "consumer", "consumer id (UUID) or username"},
        RuleCase{"consumer_not_string", {{"consumer", 1}}, "consumer", "must be a string"},
        RuleCase{"key_hash_missing", {{"key_hash", nullptr}}, "key_hash", "is required"},
        RuleCase{"key_hash_short",
                 {{"key_hash", kHashOfAbc.substr(1)}},
                 "key_hash",
                 "64 lower-case hex"},
        RuleCase{"key_hash_upper",
                 {{"key_hash", "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"}},
                 "key_hash",
                 "64 lower-case hex"},
        RuleCase{"key_hash_not_hex",
                 {{"key_hash", std::string(64, 'g')}},
                 "key_hash",
                 "64 lower-case hex"},
        RuleCase{"prefix_too_long", {{"prefix", "tpk_AbC12"}}, "prefix", "up to 8"},
        RuleCase{"prefix_not_string", {{"prefix", 8}}, "prefix", "must be a string"},
        RuleCase{"expires_at_zero", {{"expires_at", 0}}, "expires_at", "positive integer"},
        RuleCase{"created_at_negative", {{"created_at", -1}}, "created_at", "non-negative"},
        RuleCase{"updated_at_unknown", {{"updated_at", 1}}, "updated_at", "unknown field"}),
    testing::caseName);

TEST(ApiKeyTest, ToJsonNeverHoldsTheKeyAndHashOnlyOnRequest) {
  json plain = toJson(fullKey());
  EXPECT_EQ(plain, json::parse(R"({
    "id": "9b2b2c3e-2d6f-4f6a-8d8c-1f0e2f3a4b5c", "consumer": "16fd2706-8baf-433b-82eb-8c7fada847da",
    "prefix": "tpk_AbC1", "expires_at": 1900000000, "created_at": 1700000000, "tags": ["ci"]})"));
  EXPECT_FALSE(plain.contains("key"));
  EXPECT_FALSE(plain.contains("key_hash"));
  json with_hash = toJson(fullKey(), true);
  EXPECT_EQ(with_hash.at("key_hash"), kHashOfAbc);
  EXPECT_FALSE(with_hash.contains("key"));
}

TEST(ApiKeyTest, ExpiresAtIsNullWhenNever) {
  ApiKey k = fullKey();
  k.expires_at.reset();
  EXPECT_TRUE(toJson(k).at("expires_at").is_null());
}

TEST(ApiKeyTest, ExportRoundTrips) {
  ApiKey never = fullKey();
  never.expires_at.reset();
  never.tags.clear();
  never.consumer_id = "acme@example.com";  // a username is accepted as the reference too
  for (const ApiKey& k : {fullKey(), never}) {
    auto r = parseExportedApiKey(toJson(k, true));
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(*r, k);
  }
}

TEST(ApiKeyTest, GeneratedKeysHaveAFixedFormat) {
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string key = generateApiKey();
    ASSERT_EQ(key.rfind("tpk_", 0), 0u) << key;
    ASSERT_EQ(key.size(), 4u + 43u) << key;
    for (char c : key.substr(4)) {
      ASSERT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
          << key;
    }
    // A generated key must itself pass the rules for caller-supplied keys.
    ASSERT_TRUE(parseNewApiKey({{"key", key}}).ok()) << key;
    seen.insert(key);
  }
  EXPECT_EQ(seen.size(), 2000u);
}

TEST(ApiKeyTest, GeneratedKeysUseTheWholeAlphabet) {
  // 2000 keys * 43 digits: each of the 62 symbols shows up in the positions after the first.
  std::set<char> symbols;
  for (int i = 0; i < 2000; ++i) {
    std::string key = generateApiKey();
    for (std::size_t p = 5; p < key.size(); ++p) symbols.insert(key[p]);
  }
  EXPECT_EQ(symbols.size(), 62u);
}

TEST(ApiKeyTest, Sha256KnownVectors) {
  EXPECT_EQ(sha256Hex("abc"), kHashOfAbc);
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256Hex(std::string_view("a\0b", 3)).size(), 64u);
  EXPECT_NE(sha256Hex(std::string_view("a\0b", 3)), sha256Hex("a"));
}

TEST(ApiKeyTest, KeyPrefixIsTheFirstEightCharacters) {
  EXPECT_EQ(keyPrefix("tpk_AbC1defghijk"), "tpk_AbC1");
  EXPECT_EQ(keyPrefix("short"), "short");
  EXPECT_EQ(keyPrefix(""), "");
  std::string key = generateApiKey();
  EXPECT_EQ(keyPrefix(key), key.substr(0, 8));
}

TEST(ApiKeyTest, ConstantTimeEquals) {
  EXPECT_TRUE(constantTimeEquals("", ""));
  EXPECT_TRUE(constantTimeEquals(kHashOfAbc, kHashOfAbc));
  EXPECT_FALSE(constantTimeEquals("abc", "abd"));
  EXPECT_FALSE(constantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(constantTimeEquals("abc", ""));
  EXPECT_FALSE(constantTimeEquals(std::string_view("a\0c", 3), std::string_view("a\0d", 3)));
}

TEST(ApiKeyTest, ConstantTimeEqualsSeesADifferenceInAnyByteAndBit) {
  // 46 bytes, like a presented key: five words of eight bytes, then a tail of six.
  const std::string key = "tpk_4fJq9ZpX2mVb7LwR0sYt5NcH8dKe3GuA6iOz1QxWyE";
  EXPECT_TRUE(constantTimeEquals(key, std::string(key)));
  for (std::size_t i = 0; i < key.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string other = key;
      other[i] = static_cast<char>(other[i] ^ (1 << bit));
      EXPECT_FALSE(constantTimeEquals(key, other)) << "byte " << i << ", bit " << bit;
    }
  }
}

}  // namespace
}  // namespace turnpike::model
