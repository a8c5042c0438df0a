#include "proxy/proxy_answer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace turnpike::proxy {
namespace {

std::string bodyOf(const std::string& wire) { return wire.substr(wire.find("\r\n\r\n") + 4); }

TEST(ProxyAnswerTest, RendersAProblemJsonResponse) {
  std::string wire;
  renderProblem({.status = 404, .detail = "no route matches GET /\"x\"\n"}, "rid-1", true, false,
                wire);
  EXPECT_EQ(wire.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0U);
  EXPECT_NE(wire.find("Content-Type: application/problem+json\r\n"), std::string::npos);
  EXPECT_NE(wire.find("X-Request-Id: rid-1\r\n"), std::string::npos);
  EXPECT_EQ(wire.find("Connection: close"), std::string::npos);
  const std::string body = bodyOf(wire);
  EXPECT_NE(wire.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
  auto json = nlohmann::json::parse(body);
  EXPECT_EQ(json["status"], 404);
  EXPECT_EQ(json["title"], "Not Found");
  EXPECT_EQ(json["detail"], "no route matches GET /\"x\"\n");
  EXPECT_EQ(json["request_id"], "rid-1");
}

TEST(ProxyAnswerTest, ExtraMembersJoinTheProblemBody) {
  std::string wire;
  renderProblem({.status = 502,
                 .detail = "a required backend failed",
                 .extra_members = R"("backends":[{"service":"users"}])"},
                "r", true, false, wire);
  const std::string body = bodyOf(wire);
  EXPECT_NE(wire.find("Content-Length: " + std::to_string(body.size()) + "\r\n"),
            std::string::npos);
  auto json = nlohmann::json::parse(body);
  EXPECT_EQ(json["status"], 502);
  EXPECT_EQ(json["request_id"], "r");
  EXPECT_EQ(json["backends"], nlohmann::json::parse(R"([{"service":"users"}])"));
}

TEST(ProxyAnswerTest, CloseExtraHeadersAndHead) {
  std::string wire;
  renderProblem(
      {.status = 401, .detail = "key missing", .headers = {{"WWW-Authenticate", "ApiKey"}}}, "r",
      false, true, wire);
  EXPECT_NE(wire.find("Connection: close\r\n"), std::string::npos);
  EXPECT_NE(wire.find("WWW-Authenticate: ApiKey\r\n"), std::string::npos);
  EXPECT_EQ(bodyOf(wire), "");  // HEAD: headers only, Content-Length still announced
  EXPECT_EQ(wire.find("Content-Length: 0"), std::string::npos);
}

TEST(ProxyAnswerTest, EscapesControlCharacters) {
  std::string out;
  appendJsonEscaped(std::string("a\x01\\b", 4), out);
  EXPECT_EQ(out, "a\\u0001\\\\b");
}

}  // namespace
}  // namespace turnpike::proxy
