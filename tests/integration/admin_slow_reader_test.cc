// SECURITY.md, "A client that stops reading a large admin answer": what it costs the admin
// listener when an authenticated client asks for a large GET /config and then stops reading,
// with the answer far larger than the socket buffers can hold.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>

#include "tests/support/admin_fixture.h"
#include "tests/support/http_client.h"
#include "tests/support/turnpike_process.h"

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using namespace std::chrono;

// User plus system CPU time of a process, from /proc/<pid>/stat.
milliseconds cpuTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; fields >> field; ++i) {
    if (i == 14) utime = std::stoll(field);
    if (i == 15) {
      stime = std::stoll(field);
      break;
    }
  }
  return milliseconds((utime + stime) * 1000 / sysconf(_SC_CLK_TCK));
}

TEST(AdminSlowReaderTest, AStalledReaderHoldsNeitherOtherAdminCallsNorTheStop) {
  // About 6 MB of configuration: more than the server's send buffer (4 MiB at most on Linux)
  // and the stalled client's receive window (4 KiB, set below) together. Imported with the CLI
  // (the admin API takes bodies of 1 MiB at most); few routes with long tags keep it quick.
  std::string pattern = (std::filesystem::temp_directory_path() / "turnpike-slow.XXXXXX").string();
  const std::string dir = ::mkdtemp(pattern.data());
  json config = {{"services", json::array({serviceBody("bulk-svc")})}, {"routes", json::array()}};
  for (int i = 0; i < 2400; ++i) {
    json route = routeBody("bulk-route-" + std::to_string(i), "bulk-svc");
    route["tags"] = json::array();
    for (int t = 0; t < 16; ++t) {
      route["tags"].push_back(std::to_string(t) +
                              std::string(120, static_cast<char>('a' + i % 26)));
    }
    config["routes"].push_back(std::move(route));
  }
  std::ofstream(dir + "/config.json") << config.dump();
  CommandResult imported =
      runTurnpike({"config", "import", dir + "/config.json", "--db", dir + "/turnpike.db"}, {},
                  std::chrono::seconds(120));
  ASSERT_EQ(imported.exit_code, 0) << imported.err;

  TurnpikeProcess tp(
      {.extra_args = {"--workers", "1", "--access-log", "off"}, .db_path = dir + "/turnpike.db"});
  ASSERT_TRUE(tp.start());
  HttpClient admin = tp.adminClient();

  // Asks for GET /config with a 4 KiB receive window, reads the first bytes and no more.
  auto stalledClient = [&](std::string& first) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(tp.adminPort());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    const std::string request =
        "GET /config HTTP/1.1\r\nHost: admin\r\nAuthorization: Bearer " + tp.token() + "\r\n\r\n";
    EXPECT_EQ(::send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
    char head[512];
    const ssize_t n = ::recv(fd, head, sizeof head, 0);
    EXPECT_GT(n, 0) << "the answer started";
    first.assign(head, n > 0 ? n : 0);
    return fd;
  };
  std::string received;
  const int fd = stalledClient(received);

  const milliseconds cpu_before = cpuTime(tp.pid());
  const auto wall_before = steady_clock::now();
  for (int i = 0; i < 6; ++i) {
    const auto asked = steady_clock::now();
    Response status = admin.get("/status");
    EXPECT_EQ(status.status, 200) << status;
    EXPECT_LT(steady_clock::now() - asked, milliseconds(1000)) << "other admin requests wait";
    std::this_thread::sleep_for(milliseconds(500));
  }
  const auto wall = duration_cast<milliseconds>(steady_clock::now() - wall_before);
  const milliseconds cpu = cpuTime(tp.pid()) - cpu_before;
  // Pistache 0.0.5 retries the blocked send without waiting (SECURITY.md): about one core for
  // as long as the client does not read. Measured and reported, not a promise.
  ::testing::Test::RecordProperty("stalled_cpu_ms", static_cast<int>(cpu.count()));
  std::printf("[ cpu      ] %lld ms of CPU in %lld ms while one admin client did not read\n",
              static_cast<long long>(cpu.count()), static_cast<long long>(wall.count()));

  // The answer was still pending: reading again delivers all of it.
  char chunk[65536];
  const std::size_t expected = config.dump().size();  // at least the routes' text
  for (ssize_t n; received.size() < expected && (n = ::recv(fd, chunk, sizeof chunk, 0)) > 0;) {
    received.append(chunk, n);
  }
  EXPECT_GE(received.size(), expected);
  ::close(fd);

  // SIGTERM while another client has stalled the same way: a clean exit within the stop
  // timeout (5 s), though Pistache's stop() would wait for that client.
  std::string other;
  const int stalled = stalledClient(other);
  tp.stop();
  EXPECT_TRUE(tp.exitedCleanly()) << "wait status " << tp.lastWaitStatus();
  ::close(stalled);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace turnpike::test_support
