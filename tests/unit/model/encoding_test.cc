#include "model/encoding.h"

#include <gtest/gtest.h>

#include <string>

namespace turnpike::model {
namespace {

TEST(Base64Test, EncodesTheRfc4648Vectors) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Encode(std::string("\x00\x01\x02\xff", 4)), "AAEC/w==");
}

TEST(Base64Test, DecodesWhatItEncodesForEveryLengthAndByte) {
  std::string bytes;
  for (int i = 0; i < 300; ++i) {
    bytes.push_back(static_cast<char>(i * 37 % 256));
    std::optional<std::string> back = base64Decode(base64Encode(bytes));
    ASSERT_TRUE(back) << i;
    EXPECT_EQ(*back, bytes) << i;
  }
}

TEST(Base64Test, RefusesAnythingButTheCanonicalPaddedForm) {
  for (const char* bad : {"Zg", "Zg=", "Zm9", "Z===", "Zm9v\n", " Zm9v", "Zm 9v",
                          "Zm9v!A==", "Zm9vYg-_", "Zh==", "Zm9=", "=Zm9", "Zm=v"}) {
    EXPECT_FALSE(base64Decode(bad)) << bad;
  }
  EXPECT_EQ(base64Decode(""), std::string());
  EXPECT_EQ(base64Decode("Zm9vYmE="), "fooba");
}

TEST(HexTest, WritesTwoLowerCaseDigitsPerByte) {
  EXPECT_EQ(hexLower(""), "");
  EXPECT_EQ(hexLower(std::string("\x00\x01\x7f\x80\xab\xff", 6)), "00017f80abff");
}

}  // namespace
}  // namespace turnpike::model
