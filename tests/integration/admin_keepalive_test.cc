// The admin listener keeps HTTP/1.1 connections alive: several requests on one TCP connection
// are all answered, and no answer says `Connection: close` (Pistache 0.0.5 did, see DESIGN.md).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/admin_fixture.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;

bool saysClose(const Response& r) {
  std::string connection = r.headerOr("Connection");
  for (char& c : connection) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return connection.find("close") != std::string::npos;
}

class AdminKeepAliveTest : public AdminSuiteTest {};

TEST_F(AdminKeepAliveTest, TwoRequestsOnOneConnectionAreBothAnswered) {
  Response first = admin().get("/status");
  ASSERT_EQ(first.status, 200) << first;
  EXPECT_FALSE(saysClose(first)) << first;
  Response second = admin().get("/services");
  ASSERT_EQ(second.status, 200) << second;
  EXPECT_FALSE(saysClose(second)) << second;
  EXPECT_EQ(admin().connectCount(), 1) << "the second request needed a new connection";
}

TEST_F(AdminKeepAliveTest, WritesAndErrorsKeepTheConnection) {
  const std::string name = uniqueName("ka");
  std::vector<Response> answers;
  answers.push_back(admin().post("/services", serviceBody(name)));
  answers.push_back(admin().patch("/services/" + name, {{"retries", 3}}));
  answers.push_back(admin().get("/services/no-such-service"));
  answers.push_back(admin().request("POST", "/services", "{bad json"));
  answers.push_back(admin().del("/services/" + name));
  answers.push_back(admin().get("/health"));
  const int expected[] = {201, 200, 404, 400, 204, 200};
  for (size_t i = 0; i < answers.size(); ++i) {
    EXPECT_EQ(answers[i].status, expected[i]) << answers[i];
    EXPECT_FALSE(saysClose(answers[i])) << answers[i];
  }
  EXPECT_EQ(admin().connectCount(), 1);
}

TEST_F(AdminKeepAliveTest, UnauthorizedAnswersKeepTheConnection) {
  HttpClient anonymous = process().anonymousClient();
  EXPECT_EQ(anonymous.get("/services").status, 401);
  EXPECT_EQ(anonymous.get("/health").status, 200);
  EXPECT_EQ(anonymous.get("/status").status, 401);
  EXPECT_EQ(anonymous.connectCount(), 1);
}

// The same over a raw socket, with the exact bytes a minimal HTTP/1.1 client sends.
TEST_F(AdminKeepAliveTest, RawSocketGetsTwoAnswers) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(process().adminPort());
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);

  auto exchange = [&](const std::string& path) -> std::string {
    std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
        static_cast<ssize_t>(request.size())) {
      return "(send failed)";
    }
    // Read the head, then Content-Length bytes of body.
    std::string data;
    char buf[4096];
    size_t body_start = std::string::npos;
    size_t length = 0;
    while (true) {
      if (body_start == std::string::npos) {
        size_t end = data.find("\r\n\r\n");
        if (end != std::string::npos) {
          body_start = end + 4;
          std::string head = data.substr(0, end);
          for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
          size_t cl = head.find("content-length:");
          length = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 15));
        }
      }
      if (body_start != std::string::npos && data.size() >= body_start + length) {
        return data.substr(0, body_start + length);
      }
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) return data + "(connection closed or timed out)";
      data.append(buf, static_cast<size_t>(n));
    }
  };
  std::string first = exchange("/health");
  EXPECT_TRUE(first.starts_with("HTTP/1.1 200")) << first;
  std::string second = exchange("/health");
  EXPECT_TRUE(second.starts_with("HTTP/1.1 200")) << second;
  ::close(fd);
}

}  // namespace
}  // namespace turnpike::test_support
