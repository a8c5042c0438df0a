// The access log of the real binary written to a file (README "Configuration reference",
// --access-log): each request's line reaches the file within a second, as one JSON object, and
// logrotate's way of rotating it (move the file, then SIGHUP or SIGUSR1) loses no line and never
// stops the gateway, even while traffic flows.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
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

namespace turnpike::test_support {
namespace {

using nlohmann::json;
using test::TestUpstream;
namespace fs = std::filesystem;

std::vector<std::string> linesOf(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

class ProxyAccessLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    upstream_.start();
    std::string pattern = (fs::temp_directory_path() / "turnpike-log.XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    log_ = dir_ + "/access.log";
    tp_ = std::make_unique<TurnpikeProcess>(
        ProcessOptions{.extra_args = {"--workers", "2", "--access-log", log_}});
    ASSERT_TRUE(tp_->start());
    HttpClient admin = tp_->adminClient();
    ASSERT_EQ(
        admin.post("/services", {{"name", "up"}, {"targets", {{{"url", upstream_.url()}}}}}).status,
        201);
    ASSERT_EQ(admin
                  .post("/routes?wait_for_proxy=true",
                        {{"name", "logged"}, {"service", "up"}, {"paths", {"/logged"}}})
                  .status,
              201);
  }
  void TearDown() override {
    tp_.reset();
    fs::remove_all(dir_);
  }

  // Sends requests on one keep-alive connection until `stop`; counts the answers.
  void sendUntil(const std::atomic<bool>& stop, std::atomic<int>& answered) {
    HttpClient proxy("127.0.0.1", tp_->proxyPort());
    while (!stop.load()) {
      if (proxy.get("/logged/x").status == 200) answered.fetch_add(1);
    }
  }

  TestUpstream upstream_{"up"};
  std::string dir_;
  std::string log_;
  std::unique_ptr<TurnpikeProcess> tp_;
};

TEST_F(ProxyAccessLogTest, LinesReachTheFileWithinASecond) {
  HttpClient proxy("127.0.0.1", tp_->proxyPort());
  for (int i = 0; i < 20; ++i) ASSERT_EQ(proxy.get("/logged/a?q=1").status, 200);
  EXPECT_TRUE(eventually([&] { return linesOf(log_).size() == 20; }, std::chrono::seconds(1)))
      << linesOf(log_).size() << " lines after a second";
  for (const std::string& line : linesOf(log_)) {
    const json entry = json::parse(line, nullptr, false);
    ASSERT_TRUE(entry.is_object()) << line;
    EXPECT_EQ(entry["path"], "/logged/a");
    EXPECT_EQ(entry["protocol"], "HTTP/1.1");
    EXPECT_EQ(entry["scheme"], "http");  // the plain listener
    EXPECT_EQ(entry["route"], "logged");
    EXPECT_EQ(entry["status"], 200);
  }
}

TEST_F(ProxyAccessLogTest, RotatingUnderTrafficLosesNoLineAndKeepsServing) {
  std::atomic<bool> stop{false};
  std::atomic<int> answered{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) clients.emplace_back([&] { sendUntil(stop, answered); });
  auto waitForMore = [&](int than) {
    return eventually([&] { return answered.load() > than + 200; }, std::chrono::seconds(10));
  };

  EXPECT_TRUE(waitForMore(0));
  fs::rename(log_, log_ + ".1");
  ASSERT_EQ(::kill(tp_->pid(), SIGHUP), 0);
  EXPECT_TRUE(eventually([&] { return fs::exists(log_); })) << "SIGHUP reopened the file";
  EXPECT_TRUE(waitForMore(answered.load()));
  fs::rename(log_, log_ + ".2");
  ASSERT_EQ(::kill(tp_->pid(), SIGUSR1), 0);
  EXPECT_TRUE(eventually([&] { return fs::exists(log_); })) << "SIGUSR1 reopened the file";
  EXPECT_TRUE(waitForMore(answered.load()));
  stop = true;
  for (std::thread& t : clients) t.join();
  EXPECT_TRUE(tp_->running()) << "the signals did not stop the gateway";

  tp_->stop();
  EXPECT_TRUE(tp_->exitedCleanly());
  std::size_t logged = 0;
  for (const std::string& file : {log_ + ".1", log_ + ".2", log_}) {
    const std::vector<std::string> lines = linesOf(file);
    EXPECT_GT(lines.size(), 0u) << file << " got lines";
    for (const std::string& line : lines) {
      ASSERT_TRUE(json::accept(line)) << file << ": " << line;
    }
    logged += lines.size();
  }
  EXPECT_EQ(logged, static_cast<std::size_t>(answered.load())) << "one line per answer";
}

}  // namespace
}  // namespace turnpike::test_support
