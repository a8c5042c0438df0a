#include "model/http_status.h"

#include <gtest/gtest.h>

namespace turnpike::model {
namespace {

// The titles clients read in problem+json answers, from the proxy and the admin API alike.
TEST(HttpStatusTest, ReasonPhrasesOfTheAnswersTurnpikeMakes) {
  EXPECT_EQ(reasonPhrase(400), "Bad Request");
  EXPECT_EQ(reasonPhrase(401), "Unauthorized");
  EXPECT_EQ(reasonPhrase(409), "Conflict");
  EXPECT_EQ(reasonPhrase(413), "Content Too Large");  // RFC 9110's name, not "Payload Too Large"
  EXPECT_EQ(reasonPhrase(422), "Unprocessable Content");
  EXPECT_EQ(reasonPhrase(429), "Too Many Requests");
  EXPECT_EQ(reasonPhrase(431), "Request Header Fields Too Large");
  EXPECT_EQ(reasonPhrase(502), "Bad Gateway");
  EXPECT_EQ(reasonPhrase(504), "Gateway Timeout");
}

TEST(HttpStatusTest, UnlistedCodesGetTheirClassName) {
  EXPECT_EQ(reasonPhrase(418), "Client Error");
  EXPECT_EQ(reasonPhrase(599), "Server Error");
  EXPECT_EQ(reasonPhrase(0), "Error");
}

}  // namespace
}  // namespace turnpike::model
