// AdminServer: the real Pistache server on a loopback port chosen by the kernel, spoken to
// over plain POSIX sockets so that every byte on the wire is visible to the test.
#include "admin/admin_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "admin/admin_api.h"
#include "admin_test_util.h"

namespace turnpike::admin {
namespace {

using ::testing::HasSubstr;

struct WireResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;

  bool has(const std::string& name) const { return headers.count(name) > 0; }
  std::string get(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// One TCP connection to the server, with a receive timeout so a bug cannot hang the test.
class Connection {
 public:
  explicit Connection(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~Connection() {
    if (fd_ >= 0) ::close(fd_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  bool connected() const { return connected_; }

  // Sends everything it can; false when the peer stopped reading (reset or closed).
  bool sendAll(const std::string& data) {
    size_t sent = 0;
    while (sent < data.size()) {
      ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) return false;
      sent += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads one response with a Content-Length body; nullopt on timeout or close.
  std::optional<WireResponse> readResponse() {
    size_t head_end;
    while ((head_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!fill()) return std::nullopt;
    }
    WireResponse response;
    std::string head = buffer_.substr(0, head_end);
    buffer_.erase(0, head_end + 4);
    size_t line_end = head.find("\r\n");
    std::string status_line = head.substr(0, line_end);
    response.status = std::stoi(status_line.substr(status_line.find(' ') + 1, 3));
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      std::string line = head.substr(pos, end - pos);
      size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      response.headers[name] = value;
      pos = end + 2;
    }
    size_t length =
        std::stoul(response.get("content-length").empty() ? "0" : response.get("content-length"));
    while (buffer_.size() < length) {
      if (!fill()) return std::nullopt;
    }
    response.body = buffer_.substr(0, length);
    buffer_.erase(0, length);
    return response;
  }

  // True when the server closes the connection (EOF) within the receive timeout.
  bool closedByPeer() {
    char c;
    return ::recv(fd_, &c, 1, 0) == 0;
  }

 private:
  bool fill() {
    char chunk[65536];
    ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n <= 0) return false;
    buffer_.append(chunk, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool connected_ = false;
  std::string buffer_;
};

std::string authorization() { return std::string("Authorization: Bearer ") + testing::kToken; }

class AdminServerTest : public testing::ApiFixture {
 protected:
  void SetUp() override {
    // The app ignores SIGPIPE; so must a test process whose peers hang up mid-answer.
    ::signal(SIGPIPE, SIG_IGN);
    ApiFixture::SetUp();
    server_ = std::make_unique<AdminServer>(*api_, "127.0.0.1", 0, 2);
    auto started = server_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    ASSERT_NE(server_->port(), 0);
  }
  void TearDown() override {
    if (server_) server_->stop();
  }

  std::string request(const std::string& method, const std::string& target,
                      const std::string& body = "", const std::string& extra_headers = "") {
    return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + authorization() + "\r\n" +
           extra_headers + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, KeepsAPlainHttp11ConnectionAlive) {
  Connection conn(server_->port());
  ASSERT_TRUE(conn.connected());
  // No Connection header at all: HTTP/1.1 means persistent.
  ASSERT_TRUE(conn.sendAll("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  auto first = conn.readResponse();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200);
  EXPECT_NE(first->get("connection"), "close");
  EXPECT_THAT(first->get("connection"), ::testing::Not(::testing::StrCaseEq("close")));
  EXPECT_EQ(first->get("content-type"), "application/json");
  EXPECT_EQ(nlohmann::json::parse(first->body), nlohmann::json({{"status", "ok"}}));

  // The same socket answers again.
  ASSERT_TRUE(conn.sendAll(request("GET", "/services")));
  auto second = conn.readResponse();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200);
  EXPECT_FALSE(second->has("connection") && second->get("connection") == "close");

  ASSERT_TRUE(conn.sendAll(request("GET", "/status")));
  auto third = conn.readResponse();
  ASSERT_TRUE(third);
  EXPECT_EQ(third->status, 200);
}

TEST_F(AdminServerTest, ClosesWhenTheClientAsksTo) {
  Connection conn(server_->port());
  ASSERT_TRUE(conn.sendAll(request("GET", "/health", "", "Connection: close\r\n")));
  auto r = conn.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->get("connection"), "close");
  EXPECT_TRUE(conn.closedByPeer());
}

TEST_F(AdminServerTest, Http10ClosesUnlessKeepAliveIsAsked) {
  {
    Connection conn(server_->port());
    ASSERT_TRUE(conn.sendAll("GET /health HTTP/1.0\r\n\r\n"));
    auto r = conn.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->get("connection"), "close");
    EXPECT_TRUE(conn.closedByPeer());
  }
  {
    Connection conn(server_->port());
    ASSERT_TRUE(conn.sendAll("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto r = conn.readResponse();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->get("connection"), "keep-alive");
    ASSERT_TRUE(conn.sendAll("GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    EXPECT_TRUE(conn.readResponse());
  }
}

TEST_F(AdminServerTest, PassesHeadersQueryAndDecodedPathToTheApi) {
  Connection conn(server_->port());
  // Without the token: 401 with the challenge.
  ASSERT_TRUE(conn.sendAll("GET /services HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto anonymous = conn.readResponse();
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  EXPECT_THAT(anonymous->get("www-authenticate"), ::testing::StartsWith("Bearer"));
  EXPECT_EQ(anonymous->get("content-type"), "application/problem+json");

  // The query reaches the API.
  ASSERT_TRUE(conn.sendAll(request("GET", "/services?size=abc")));
  auto bad_size = conn.readResponse();
  ASSERT_TRUE(bad_size);
  EXPECT_EQ(bad_size->status, 400);
  EXPECT_THAT(bad_size->body, HasSubstr("\"size\""));

  // A create: 201 with Location, ETag and X-Config-Version on the wire.
  std::string body =
      R"({"name":"my-svc","targets":[{"url":"http://10.0.0.5:8080"}],"tags":["a b"]})";
  ASSERT_TRUE(
      conn.sendAll(request("POST", "/services", body, "Content-Type: application/json\r\n")));
  auto created = conn.readResponse();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  EXPECT_THAT(created->get("location"), ::testing::StartsWith("/services/"));
  EXPECT_FALSE(created->get("etag").empty());
  EXPECT_EQ(created->get("x-config-version"), "1");

  // Percent-escapes in the path and the query are decoded.
  ASSERT_TRUE(conn.sendAll(request("GET", "/services/my%2Dsvc")));
  auto by_name = conn.readResponse();
  ASSERT_TRUE(by_name);
  EXPECT_EQ(by_name->status, 200) << by_name->body;
  ASSERT_TRUE(conn.sendAll(request("GET", "/services?tags=a%20b")));
  auto tagged = conn.readResponse();
  ASSERT_TRUE(tagged);
  EXPECT_EQ(nlohmann::json::parse(tagged->body)["data"].size(), 1u) << tagged->body;

  // 405 carries Allow.
  ASSERT_TRUE(conn.sendAll(request("DELETE", "/services")));
  auto not_allowed = conn.readResponse();
  ASSERT_TRUE(not_allowed);
  EXPECT_EQ(not_allowed->status, 405);
  EXPECT_EQ(not_allowed->get("allow"), "GET, POST");
}

TEST_F(AdminServerTest, AcceptsAOneMebibyteBody) {
  std::string body = R"({"services":[{"name":"big","targets":[{"url":"http://a:1"}]}]})";
  body.append(testing::kOneMiB - body.size(), ' ');
  ASSERT_EQ(body.size(), 1024u * 1024u);
  Connection conn(server_->port());
  ASSERT_TRUE(conn.sendAll(request("PUT", "/config?dry_run=true", body)));
  auto r = conn.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(nlohmann::json::parse(r->body)["dry_run"], true);

  // And the connection is still good for the next request.
  ASSERT_TRUE(conn.sendAll(request("GET", "/health")));
  auto next = conn.readResponse();
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200);
}

TEST_F(AdminServerTest, JustOverOneMebibyteIs413Problem) {
  std::string body(testing::kOneMiB + 1, ' ');
  Connection conn(server_->port());
  ASSERT_TRUE(conn.sendAll(request("PUT", "/config", body)));
  auto r = conn.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->get("content-type"), "application/problem+json");
}

TEST_F(AdminServerTest, TwoMebibyteBodyIs413) {
  std::string body(2 * testing::kOneMiB, 'x');
  Connection conn(server_->port());
  // The server may answer before it has read everything; a failed send is fine then.
  conn.sendAll(request("PUT", "/config", body));
  auto r = conn.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 413);

  // The server is still fine for everyone else.
  Connection other(server_->port());
  ASSERT_TRUE(other.sendAll(request("GET", "/health")));
  auto health = other.readResponse();
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
}

TEST_F(AdminServerTest, PortInUseIsAnErrorNotACrash) {
  AdminServer second(*api_, "127.0.0.1", server_->port(), 1);
  auto started = second.start();
  ASSERT_FALSE(started.ok());
  EXPECT_THAT(started.error().message, HasSubstr(std::to_string(server_->port())));
  EXPECT_EQ(second.port(), 0);
  second.stop();  // harmless when it never started
}

TEST_F(AdminServerTest, UnusableAddressIsAnErrorNotACrash) {
  AdminServer server(*api_, "203.0.113.300", 0, 1);
  auto started = server.start();
  EXPECT_FALSE(started.ok());
}

TEST_F(AdminServerTest, ChunkedBodiesWorkAndOversizedOnesAre413) {
  Connection conn(server_->port());
  std::string head = "PUT /config?dry_run=true HTTP/1.1\r\nHost: x\r\n" + authorization() +
                     "\r\nTransfer-Encoding: chunked\r\n\r\n";
  ASSERT_TRUE(conn.sendAll(head + "f\r\n{\"services\":[]}\r\n0\r\n\r\n"));
  auto ok = conn.readResponse();
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;

  std::string chunk(64 * 1024, 'x');
  std::string framed = "10000\r\n" + chunk + "\r\n";
  conn.sendAll(head);
  for (int i = 0; i < 40 && conn.sendAll(framed); ++i) {
  }
  auto big = conn.readResponse();
  ASSERT_TRUE(big);
  EXPECT_EQ(big->status, 413);
  EXPECT_EQ(big->get("connection"), "close");
}

TEST_F(AdminServerTest, ExpectContinueIsAnswered) {
  Connection conn(server_->port());
  std::string body = R"({"services":[]})";
  ASSERT_TRUE(conn.sendAll(
      "PUT /config?dry_run=true HTTP/1.1\r\nHost: x\r\n" + authorization() +
      "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n"));
  auto interim = conn.readResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(conn.sendAll(body));
  auto final_answer = conn.readResponse();
  ASSERT_TRUE(final_answer);
  EXPECT_EQ(final_answer->status, 200) << final_answer->body;
}

TEST_F(AdminServerTest, StopsAndReleasesThePort) {
  uint16_t port = server_->port();
  server_->stop();
  server_->stop();  // idempotent
  Connection conn(port);
  EXPECT_FALSE(conn.connected());

  // The same port can be served again (SO_REUSEADDR).
  AdminServer again(*api_, "127.0.0.1", port, 1);
  auto started = again.start();
  ASSERT_TRUE(started.ok()) << started.error().message;
  Connection fresh(port);
  ASSERT_TRUE(fresh.sendAll("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto r = fresh.readResponse();
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  again.stop();
}

TEST_F(AdminServerTest, ManyConnectionsInParallel) {
  constexpr int kClients = 8;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < kClients; ++i) {
    threads.emplace_back([&, i] {
      Connection conn(server_->port());
      for (int j = 0; j < 20; ++j) {
        std::string name = "svc-" + std::to_string(i) + "-" + std::to_string(j);
        std::string body = R"({"name":")" + name + R"(","targets":[{"url":"http://a:1"}]})";
        if (!conn.sendAll(request("POST", "/services", body))) return;
        auto r = conn.readResponse();
        if (!r || r->status != 201) return;
      }
      ok.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kClients);
  auto counts = store_->counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->services, kClients * 20);
}

}  // namespace
}  // namespace turnpike::admin
