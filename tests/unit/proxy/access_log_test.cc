#include "proxy/access_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace turnpike::proxy {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
namespace fs = std::filesystem;

AccessLogEntry sampleEntry() {
  return {.time = std::chrono::system_clock::time_point(milliseconds(1'700'000'000'123)),
          .request_id = "rid",
          .client_ip = "127.0.0.1",
          .method = "GET",
          .host = "api.example.com",
          .path = "/orders/\"7\"",
          .protocol = "HTTP/1.1",
          .scheme = "https",
          .route = "orders",
          .consumer = "",
          .status = 200,
          .bytes_sent = 42,
          .duration = microseconds(1500),
          .upstream_duration = microseconds(1'000'000),
          .target = "http://127.0.0.1:9000"};
}

// A temporary directory, removed with the object.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (fs::temp_directory_path() / "turnpike-access-log.XXXXXX").string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

std::vector<std::string> linesOf(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string contentOf(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(AccessLogTest, OneJsonObjectPerLine) {
  std::string line;
  appendAccessLogLine(sampleEntry(), line);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto json = nlohmann::json::parse(line);
  EXPECT_EQ(json["time"], "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(json["path"], "/orders/\"7\"");
  EXPECT_EQ(json["protocol"], "HTTP/1.1");
  EXPECT_EQ(json["scheme"], "https");
  EXPECT_EQ(json["status"], 200);
  EXPECT_EQ(json["bytes"], 42);
  EXPECT_DOUBLE_EQ(json["duration_s"].get<double>(), 0.0015);
  EXPECT_DOUBLE_EQ(json["upstream_s"].get<double>(), 1.0);
  EXPECT_EQ(json["target"], "http://127.0.0.1:9000");
  EXPECT_NE(line.find("\"duration_s\":0.001500,"), std::string::npos) << line;
}

TEST(AccessLogTest, OnlyATunnelsLineSaysWhatTheClientSent) {
  AccessLogEntry entry = sampleEntry();
  entry.bytes_received = 900;
  std::string request_line;
  appendAccessLogLine(entry, request_line);
  EXPECT_FALSE(nlohmann::json::parse(request_line).contains("bytes_received"));
  entry.status = 101;
  std::string tunnel_line;
  appendAccessLogLine(entry, tunnel_line);
  const auto tunnel = nlohmann::json::parse(tunnel_line);
  EXPECT_EQ(tunnel["bytes"], 42);
  EXPECT_EQ(tunnel["bytes_received"], 900);
}

TEST(AccessLogTest, TimesKeepTheirMillisecondsAcrossSeconds) {
  const std::vector<std::pair<int64_t, std::string>> cases = {
      {1'700'000'000'005LL, "2023-11-14T22:13:20.005Z"},
      {1'700'000'000'999LL, "2023-11-14T22:13:20.999Z"},
      {1'700'000'001'000LL, "2023-11-14T22:13:21.000Z"},
      {0, "1970-01-01T00:00:00.000Z"}};
  AccessLogEntry entry = sampleEntry();
  for (const auto& [ms, expected] : cases) {
    entry.time = std::chrono::system_clock::time_point(milliseconds(ms));
    std::string line;
    appendAccessLogLine(entry, line);
    EXPECT_EQ(nlohmann::json::parse(line)["time"], expected) << ms;
  }
}

TEST(AccessLogTest, BufferWritesWholeLinesWhenFullAndOnFlush) {
  TempDir dir;
  auto sink = AccessLogSink::open(dir.file("access.log"));
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  AccessLogBuffer buffer(**sink);
  buffer.append(sampleEntry());
  EXPECT_EQ(contentOf(dir.file("access.log")), "") << "one line waits for the sweep";
  while (buffer.buffered() > 0) buffer.append(sampleEntry());  // until it wrote itself out
  const std::vector<std::string> written = linesOf(dir.file("access.log"));
  EXPECT_GE(written.size() * (written.front().size() + 1), AccessLogBuffer::kFlushBytes);
  for (const std::string& line : written) EXPECT_TRUE(nlohmann::json::accept(line)) << line;
  buffer.append(sampleEntry());
  buffer.flush();
  EXPECT_EQ(linesOf(dir.file("access.log")).size(), written.size() + 1);
  EXPECT_EQ((*sink)->droppedBytes(), 0u);
}

TEST(AccessLogTest, WorkersSharingAPipeNeverInterleaveInsideALine) {
  // A pipe, unlike a regular file, splits writes over PIPE_BUF (4 KiB) between writers: the
  // sink must write one buffer at a time.
  TempDir dir;
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] {
    const int fd = ::open(fifo.c_str(), O_RDONLY);
    char chunk[4096];
    for (ssize_t n; (n = ::read(fd, chunk, sizeof chunk)) > 0;) received.append(chunk, n);
    ::close(fd);
  });
  constexpr int kWorkers = 4, kLines = 5000;
  {
    auto sink = AccessLogSink::open(fifo);  // blocks until the reader opened its end
    ASSERT_TRUE(sink.ok()) << sink.error().message;
    std::vector<std::thread> workers;
    for (int w = 0; w < kWorkers; ++w) {
      workers.emplace_back([&, w] {
        AccessLogBuffer buffer(**sink);
        const std::string id = "worker-" + std::to_string(w);
        AccessLogEntry entry = sampleEntry();
        entry.request_id = id;
        for (int i = 0; i < kLines; ++i) buffer.append(entry);
      });  // ~AccessLogBuffer flushes the rest
    }
    for (std::thread& t : workers) t.join();
  }  // closes the write end: the reader sees EOF
  reader.join();
  std::istringstream in(received);
  int lines = 0;
  for (std::string line; std::getline(in, line); ++lines) {
    ASSERT_TRUE(nlohmann::json::accept(line)) << "line " << lines << ": " << line;
  }
  EXPECT_EQ(lines, kWorkers * kLines);
}

TEST(AccessLogTest, ReopenAfterTheFileWasMovedLosesNoLine) {
  TempDir dir;
  const std::string path = dir.file("access.log");
  auto sink = AccessLogSink::open(path);
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  AccessLogBuffer buffer(**sink);
  for (int i = 0; i < 3; ++i) buffer.append(sampleEntry());
  buffer.flush();
  buffer.append(sampleEntry());  // buffered while logrotate moves the file
  fs::rename(path, path + ".1");
  ASSERT_TRUE((*sink)->reopen().ok());
  buffer.append(sampleEntry());
  buffer.flush();
  EXPECT_EQ(linesOf(path + ".1").size(), 3u) << "written before the move: in the moved file";
  EXPECT_EQ(linesOf(path).size(), 2u) << "buffered or written after: in the new file";
}

TEST(AccessLogTest, AFailingWriteDropsAndCountsTheLines) {
  auto sink = AccessLogSink::open("/dev/full");  // every write: ENOSPC
  ASSERT_TRUE(sink.ok()) << sink.error().message;
  AccessLogBuffer buffer(**sink);
  buffer.append(sampleEntry());
  buffer.flush();
  EXPECT_GT((*sink)->droppedBytes(), 100u);
  EXPECT_EQ(buffer.buffered(), 0u) << "the buffer does not grow while the disk is full";
}

TEST(AccessLogTest, AFileThatCannotBeOpenedIsRefusedByName) {
  auto sink = AccessLogSink::open("/nonexistent-dir/access.log");
  ASSERT_FALSE(sink.ok());
  EXPECT_NE(sink.error().message.find("/nonexistent-dir/access.log"), std::string::npos);
}

}  // namespace
}  // namespace turnpike::proxy
