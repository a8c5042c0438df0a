// WebSocket through the real binary (README "WebSocket and other upgrades"): a real client and
// a real server (tests/support/websocket_peer.py, Python's `websockets`) talk through Turnpike.
// The upgrade is routed and checked like any request (API keys, rate limits), the 101 keeps the
// upstream's Connection and Upgrade, bytes then flow both ways until a side closes or the
// service's idle_timeout_ms passes in silence; configuration changes never close a tunnel, a
// drain closes it at its deadline, and each tunnel writes one access log line when it closes.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.h"
#include "tests/support/proxy_fixture.h"
#include "tests/support/test_upstream.h"
#include "tests/support/turnpike_process.h"

extern char** environ;

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;
using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr const char* kPython = "/usr/bin/python3";

// The echo server of websocket_peer.py, stopped with the object.
class WebSocketServer {
 public:
  WebSocketServer() {
    int out[2];
    if (::pipe(out) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    std::vector<char*> argv = {const_cast<char*>(kPython),
                               const_cast<char*>(TURNPIKE_WEBSOCKET_PEER),
                               const_cast<char*>("serve"), nullptr};
    if (posix_spawn(&pid_, kPython, &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    FILE* in = ::fdopen(out[0], "r");
    std::array<char, 64> line{};
    if (in != nullptr && std::fgets(line.data(), line.size(), in) != nullptr) {
      std::sscanf(line.data(), "PORT %hu", &port_);
    }
    if (in != nullptr) std::fclose(in);
  }
  ~WebSocketServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  WebSocketServer(const WebSocketServer&) = delete;
  WebSocketServer& operator=(const WebSocketServer&) = delete;

  uint16_t port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

// websocket_peer.py's client: its JSON report ({"ok":..., "rtt_ms":..., "hello":..., "error":...}).
json runClient(const std::string& url, const std::string& options) {
  const std::string command = std::string(kPython) + " " + TURNPIKE_WEBSOCKET_PEER + " client " +
                              url + " " + options + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {{"ok", false}, {"error", "popen failed"}};
  std::string out;
  std::array<char, 4096> chunk;
  while (std::size_t n = std::fread(chunk.data(), 1, chunk.size(), pipe))
    out.append(chunk.data(), n);
  ::pclose(pipe);
  const std::size_t start = out.rfind("\n{");
  json report = json::parse(out.substr(start == std::string::npos ? 0 : start + 1), nullptr, false);
  if (report.is_discarded()) return {{"ok", false}, {"error", "client printed: " + out}};
  return report;
}

// A loopback connection for byte-exact handshakes. Reads wait at most `timeout` in all.
class Raw {
 public:
  explicit Raw(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ADD_FAILURE() << "cannot connect to port " << port;
    }
    timeval tv{.tv_sec = 0, .tv_usec = 100'000};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Raw() { ::close(fd_); }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  void send(std::string_view bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  // Everything up to and including the blank line after a head ("" when none came in time).
  std::string head(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      if (const std::size_t end = buffer_.find("\r\n\r\n"); end != std::string::npos) {
        std::string head = buffer_.substr(0, end + 4);
        buffer_.erase(0, end + 4);
        return head;
      }
      if (!fill()) break;
    }
    return "";
  }
  // Waits for the peer to close; returns how long that took (or `timeout` when it did not).
  std::chrono::milliseconds untilClosed(std::chrono::milliseconds timeout) {
    const auto started = Clock::now();
    while (Clock::now() - started < timeout) {
      std::array<char, 4096> chunk;
      const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), 0);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) break;
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  }

 private:
  bool fill() {
    std::array<char, 4096> chunk;
    const ssize_t n = ::recv(fd_, chunk.data(), chunk.size(), 0);
    if (n > 0) buffer_.append(chunk.data(), static_cast<std::size_t>(n));
    return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
  }

  int fd_;
  std::string buffer_;
};

constexpr std::string_view kUpgradeRequest =
    "GET /ws/raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

// The head's field lines without the ones that differ from one answer to the next.
std::vector<std::string> stableLines(const std::string& head) {
  std::vector<std::string> lines;
  std::size_t at = 0;
  while (at < head.size()) {
    const std::size_t end = head.find("\r\n", at);
    std::string line = head.substr(at, end - at);
    at = end + 2;
    if (line.empty() || line.starts_with("Date:") || line.starts_with("X-Request-Id:")) continue;
    lines.push_back(line);
  }
  return lines;
}

class ProxyWebSocketTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(server_.port(), 0) << "websocket_peer.py serve did not start";
    std::string pattern = (fs::temp_directory_path() / "turnpike-ws.XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    log_ = dir_ + "/access.log";
    tp_ = std::make_unique<TurnpikeProcess>(ProcessOptions{
        .extra_args = {"--workers", "1", "--access-log", log_, "--drain-timeout-ms", "1000"}});
    ASSERT_TRUE(tp_->start());
  }
  void TearDown() override {
    tp_.reset();
    fs::remove_all(dir_);
  }

  HttpClient admin() { return tp_->adminClient(); }
  void create(const std::string& collection, const json& body) {
    Response r = admin().post(collection + "?wait_for_proxy=true", body);
    ASSERT_EQ(r.status, 201) << r;
  }
  // A service "ws" to the echo server (with `fields`) and a route "ws" for /ws (with `route`).
  void routeToServer(json fields = json::object(), json route = json::object()) {
    fields["name"] = "ws";
    fields["targets"] = {{{"url", server_.url()}}};
    create("/services", fields);
    route["name"] = "ws";
    route["service"] = "ws";
    route["paths"] = {"/ws"};
    create("/routes", route);
  }
  std::string proxyUrl(const std::string& path) const {
    return "ws://127.0.0.1:" + std::to_string(tp_->proxyPort()) + path;
  }
  std::string metric(const std::string& name) {
    const std::string body = admin().get("/metrics").body;
    const std::size_t at = body.find("\n" + name + " ");
    if (at == std::string::npos) return "";
    const std::size_t start = at + name.size() + 2;
    return body.substr(start, body.find('\n', start) - start);
  }
  std::vector<json> tunnelLines() {
    std::vector<json> lines;
    std::ifstream in(log_);
    for (std::string line; std::getline(in, line);) {
      json entry = json::parse(line, nullptr, false);
      if (!entry.is_discarded() && entry.value("status", 0) == 101) lines.push_back(entry);
    }
    return lines;
  }

  WebSocketServer server_;
  std::string dir_;
  std::string log_;
  std::unique_ptr<TurnpikeProcess> tp_;
};

TEST_F(ProxyWebSocketTest, EchoesThroughTheProxyAndLogsOneLineWhenTheTunnelCloses) {
  routeToServer();
  json report = runClient(proxyUrl("/ws/hello"), "--hello --messages 50 --size 3000");
  ASSERT_TRUE(report.value("ok", false)) << report.dump();
  EXPECT_EQ(report["rtt_ms"].size(), 50U);
  // The upstream saw a WebSocket handshake, with Turnpike's forwarding fields.
  const json& hello = report["hello"];
  EXPECT_EQ(hello.value("upgrade", ""), "websocket");
  EXPECT_EQ(hello.value("connection", ""), "Upgrade");
  EXPECT_FALSE(hello.value("sec-websocket-key", "").empty());
  EXPECT_EQ(hello.value("x-forwarded-for", ""), "127.0.0.1");
  EXPECT_FALSE(hello.value("x-request-id", "").empty());

  ASSERT_TRUE(eventually([&] { return tunnelLines().size() == 1; }, std::chrono::seconds(3)));
  const json line = tunnelLines()[0];
  EXPECT_EQ(line.value("route", ""), "ws");
  EXPECT_EQ(line.value("path", ""), "/ws/hello");
  // 50 echoes of 3,000 bytes and more each way, framed.
  EXPECT_GT(line.value("bytes", 0), 150'000);
  EXPECT_GT(line.value("bytes_received", 0), 150'000);
  EXPECT_EQ(metric("turnpike_tunnels_total"), "1");
  EXPECT_EQ(metric("turnpike_tunnels_open"), "0");
}

TEST_F(ProxyWebSocketTest, OpenTunnelsAreCounted) {
  routeToServer();
  std::thread client([&] {
    json report = runClient(proxyUrl("/ws/held"), "--messages 1 --hold-ms 1500");
    EXPECT_TRUE(report.value("ok", false)) << report.dump();
  });
  EXPECT_TRUE(eventually([&] { return metric("turnpike_tunnels_open") == "1"; }));
  client.join();
  EXPECT_TRUE(eventually([&] { return metric("turnpike_tunnels_open") == "0"; }));
}

TEST_F(ProxyWebSocketTest, SwitchingHeadKeepsTheUpstreamsConnectionAndUpgrade) {
  routeToServer();
  Raw direct(server_.port());
  direct.send(kUpgradeRequest);
  const std::string direct_head = direct.head();
  ASSERT_THAT(direct_head, HasSubstr("101 Switching Protocols"));

  Raw proxied(tp_->proxyPort());
  proxied.send(kUpgradeRequest);
  const std::string head = proxied.head();
  // Field for field what the server says (bar Date and the request id Turnpike adds).
  EXPECT_EQ(stableLines(head), stableLines(direct_head)) << head;
  EXPECT_THAT(head, HasSubstr("\r\nX-Request-Id: "));
  EXPECT_THAT(head, ::testing::Not(HasSubstr("Content-Length")));
  EXPECT_THAT(head, ::testing::Not(HasSubstr("Transfer-Encoding")));
}

TEST_F(ProxyWebSocketTest, TheUpgradeIsAuthenticatedAndCountedByRateLimits) {
  create("/rate-limit-policies", {{"name", "two"},
                                  {"limit", 2},
                                  {"window_s", 3600},
                                  {"algorithm", "fixed_window"},
                                  {"key_by", "route"}});
  routeToServer(json::object(),
                {{"auth", {{"type", "api_key"}}}, {"rate_limit_policies", {"two"}}});
  create("/consumers", {{"username", "alice"}});
  Response key = admin().post("/consumers/alice/keys?wait_for_proxy=true", json::object());
  ASSERT_EQ(key.status, 201) << key;
  const std::string api_key = key.json().value("key", "");

  json refused = runClient(proxyUrl("/ws/a"), "--messages 1");
  EXPECT_FALSE(refused.value("ok", true));
  EXPECT_THAT(refused.value("error", ""), HasSubstr("401"));

  const std::string with_key = "--messages 1 --header apikey:" + api_key;
  EXPECT_TRUE(runClient(proxyUrl("/ws/a"), with_key).value("ok", false));
  EXPECT_TRUE(runClient(proxyUrl("/ws/a"), with_key).value("ok", false));
  json limited = runClient(proxyUrl("/ws/a"), with_key);
  EXPECT_FALSE(limited.value("ok", true));
  EXPECT_THAT(limited.value("error", ""), HasSubstr("429"));
}

TEST_F(ProxyWebSocketTest, IdleTimeoutClosesASilentTunnelButNotABusyOne) {
  routeToServer({{"idle_timeout_ms", 700}, {"read_timeout_ms", 200}});
  // Busy for 2 s, a message every 100 ms: longer than the idle timeout and the read timeout.
  json busy = runClient(proxyUrl("/ws/busy"), "--messages 20 --interval-ms 100");
  EXPECT_TRUE(busy.value("ok", false)) << busy.dump();

  Raw silent(tp_->proxyPort());
  silent.send(kUpgradeRequest);
  ASSERT_THAT(silent.head(), HasSubstr("101"));
  const auto closed_after = silent.untilClosed(std::chrono::seconds(5));
  EXPECT_GE(closed_after.count(), 600);
  EXPECT_LT(closed_after.count(), 2000);
}

TEST_F(ProxyWebSocketTest, ConfigurationChangesDoNotCloseATunnel) {
  routeToServer();
  std::thread client([&] {
    // About 3 s of traffic while the configuration changes under it.
    json report = runClient(proxyUrl("/ws/churn"), "--messages 30 --interval-ms 100");
    EXPECT_TRUE(report.value("ok", false)) << report.dump();
  });
  TestUpstream other("other");
  other.start();
  HttpClient control = admin();
  for (int i = 0; i < 20; ++i) {
    // The tunnel's own service and route change too.
    EXPECT_EQ(control.patch("/services/ws?wait_for_proxy=true", {{"retries", i % 3}}).status, 200);
    EXPECT_EQ(control.patch("/routes/ws?wait_for_proxy=true", {{"strip_path", i % 2 == 0}}).status,
              200);
    EXPECT_EQ(control
                  .post("/services?wait_for_proxy=true", {{"name", "other" + std::to_string(i)},
                                                          {"targets", {{{"url", other.url()}}}}})
                  .status,
              201);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  client.join();
}

TEST_F(ProxyWebSocketTest, AnUpstreamThatDeclinesTheUpgradeAnswersOverHttp) {
  TestUpstream plain("plain");
  plain.start();
  create("/services", {{"name", "plain"}, {"targets", {{{"url", plain.url()}}}}});
  create("/routes", {{"name", "plain"}, {"service", "plain"}, {"paths", {"/ws"}}});
  Raw client(tp_->proxyPort());
  client.send(kUpgradeRequest);
  const std::string head = client.head();
  EXPECT_THAT(head, HasSubstr("HTTP/1.1 200"));
  EXPECT_THAT(head, ::testing::Not(HasSubstr("Upgrade")));
  // Still HTTP: the connection carries the next request (its head comes after the echo body).
  client.send("GET /ws/next HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_THAT(client.head(), HasSubstr("HTTP/1.1 200"));
}

TEST_F(ProxyWebSocketTest, ADrainClosesTunnelsAtItsDeadlineAndLogsThem) {
  routeToServer();
  Raw held(tp_->proxyPort());
  held.send(kUpgradeRequest);
  ASSERT_THAT(held.head(), HasSubstr("101"));
  const auto started = Clock::now();
  const int status = tp_->stop();  // SIGTERM: drain, 1 s deadline
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_GE(took.count(), 900);
  EXPECT_LT(took.count(), 4000);
  EXPECT_LT(held.untilClosed(std::chrono::seconds(1)).count(), 1000);
  EXPECT_EQ(tunnelLines().size(), 1U);
}

}  // namespace
}  // namespace turnpike::test_support
