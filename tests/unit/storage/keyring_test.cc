#include "storage/keyring.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "model/encoding.h"

namespace turnpike::storage {
namespace {

using ::testing::HasSubstr;

class KeyringTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/turnpike-keyring-test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static std::string readFile(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::filesystem::path dir_;
};

Keyring::Key keyOf(unsigned char fill) {
  Keyring::Key key;
  key.fill(fill);
  return key;
}

TEST_F(KeyringTest, FirstStartMakesAPrivateFileThatLaterStartsReadBack) {
  const auto path = dir_ / "keyring";
  bool created = false;
  auto first = Keyring::loadOrCreate(path, &created);
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_TRUE(created);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string text = readFile(path);
  ASSERT_EQ(text.back(), '\n');
  text.pop_back();
  auto bytes = model::base64Decode(text);
  ASSERT_TRUE(bytes);
  EXPECT_EQ(bytes->size(), 32u);

  auto again = Keyring::loadOrCreate(path, &created);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(created);
  EXPECT_EQ(again->id(), first->id());
  const std::string sealed = first->seal("-----BEGIN PRIVATE KEY-----", "cert-1");
  auto opened = again->unseal(sealed, "cert-1");
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, "-----BEGIN PRIVATE KEY-----");
}

TEST_F(KeyringTest, AnOpensslMadeFileIsAKeyringAndABrokenOneNamesTheFile) {
  const auto good = dir_ / "good";
  std::ofstream(good) << model::base64Encode(std::string(32, 'k')) << "\n";
  auto keyring = Keyring::load(good);
  ASSERT_TRUE(keyring) << keyring.error().message;
  EXPECT_EQ(keyring->id(), Keyring(keyOf('k')).id());

  for (const std::string& contents :
       {std::string(""), model::base64Encode(std::string(31, 'k')), std::string("not base64!"),
        model::base64Encode(std::string(33, 'k'))}) {
    const auto bad = dir_ / "bad";
    std::ofstream(bad, std::ios::trunc) << contents;
    auto refused = Keyring::load(bad);
    ASSERT_FALSE(refused) << contents;
    EXPECT_THAT(refused.error().message, HasSubstr(bad.string()));
    EXPECT_THAT(refused.error().message, HasSubstr("32 bytes in base64"));
  }
  auto missing = Keyring::load(dir_ / "absent");
  ASSERT_FALSE(missing);
  EXPECT_THAT(missing.error().message, HasSubstr("absent"));
}

TEST_F(KeyringTest, ASealedSecretHidesItsTextAndNeverRepeats) {
  const Keyring keyring(keyOf(1));
  const std::string secret = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49";
  const std::string a = keyring.seal(secret, "id-1");
  const std::string b = keyring.seal(secret, "id-1");
  EXPECT_NE(a, b);  // a fresh nonce each time
  EXPECT_EQ(a.find("PRIVATE KEY"), std::string::npos);
  EXPECT_EQ(a.find(model::base64Encode(secret).substr(0, 16)), std::string::npos);
  EXPECT_EQ(a.rfind("v1:" + keyring.id() + ":", 0), 0u);
  EXPECT_EQ(Keyring::sealedBy(a), keyring.id());
  EXPECT_EQ(keyring.unseal(a, "id-1").value(), secret);
  EXPECT_EQ(keyring.unseal(keyring.seal("", "id-1"), "id-1").value(), "");
}

TEST_F(KeyringTest, ASealedSecretOpensOnlyForItsOwnerUnderItsKeyring) {
  const Keyring keyring(keyOf(1));
  const std::string sealed = keyring.seal("hmac secret", "provider-a");

  auto other_owner = keyring.unseal(sealed, "provider-b");
  ASSERT_FALSE(other_owner);
  EXPECT_THAT(other_owner.error().message, HasSubstr("does not open"));

  const Keyring other(keyOf(2));
  auto other_keyring = other.unseal(sealed, "provider-a");
  ASSERT_FALSE(other_keyring);
  EXPECT_THAT(other_keyring.error().message, HasSubstr("sealed under keyring " + keyring.id()));
  EXPECT_THAT(other_keyring.error().message, HasSubstr(other.id()));

  // Every single-character change of the body is caught by the tag (or is no longer base64).
  const std::size_t body = sealed.rfind(':') + 1;
  for (std::size_t i = body; i < sealed.size(); ++i) {
    std::string altered = sealed;
    altered[i] = altered[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(keyring.unseal(altered, "provider-a")) << i;
  }
  for (const char* junk : {"", "hmac secret", "v1:", "v2:abc:AAAA", "v1:x"}) {
    EXPECT_FALSE(keyring.unseal(junk, "provider-a")) << junk;
  }
}

}  // namespace
}  // namespace turnpike::storage
