// spliceBody() between real loopback sockets: exactly `length` bytes move, intact, and each way
// of failing is reported against the right side.
#include "proxy/splice_relay.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/error.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "socket_test_util.h"

namespace turnpike::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

using testing::bytePattern;
using testing::connectedPair;
using testing::SocketPair;

// A source and a sink connection, each with the relay's end and the test's end, and a pipe.
class SpliceRelayTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pipe_.open()); }

  // Runs spliceBody(source_.near -> sink_.near, length) to its end (or 10 s: a hang fails).
  SpliceResult relay(uint64_t length, int* waits = nullptr) {
    SpliceResult result;
    bool finished = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          result = co_await spliceBody(source_.near, sink_.near, pipe_, length, [&](SpliceWait) {
            if (waits) ++*waits;
          });
          finished = true;
        },
        asio::detached);
    io_.run_for(std::chrono::seconds(10));
    io_.restart();
    EXPECT_TRUE(finished) << "spliceBody did not finish";
    return result;
  }

  asio::io_context io_;
  SocketPair source_ = connectedPair(io_);
  SocketPair sink_ = connectedPair(io_);
  SplicePipe pipe_;
};

TEST_F(SpliceRelayTest, MovesExactlyTheLengthIntactAndLeavesWhatFollows) {
  EXPECT_GE(pipe_.capacity(), 64U * 1024);
  const std::string body = bytePattern(3 * 1024 * 1024 + 17);  // many times the pipe
  // A writer and a reader on their own threads, so that both sides fill up and wait. The sink's
  // buffers are small and its reader starts late: the relay must wait for it (on a fast machine
  // loopback buffers of several MiB could otherwise take the whole body at once).
  sink_.near.set_option(asio::socket_base::send_buffer_size(16 * 1024));
  sink_.far.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
  std::thread writer([&] { asio::write(source_.far, asio::buffer(body + "NEXT")); });
  std::string received(body.size(), '\0');
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    asio::read(sink_.far, asio::buffer(received));
  });
  int waits = 0;
  const SpliceResult result = relay(body.size(), &waits);
  writer.join();
  reader.join();
  EXPECT_FALSE(result.ec) << result.ec.message();
  EXPECT_EQ(result.moved, body.size());
  EXPECT_TRUE(received == body) << "the bytes arrived changed or out of order";
  EXPECT_GT(waits, 0) << "3 MiB through loopback buffers needs waiting for one side";
  std::string next(4, '\0');
  asio::read(source_.near, asio::buffer(next));
  EXPECT_EQ(next, "NEXT") << "the bytes after the body stay in the source";
  EXPECT_GE(pipe_.readEnd(), 0) << "the pipe stays open for the next body";
}

TEST_F(SpliceRelayTest, ASourceThatClosesEarlyIsAPartialMessage) {
  asio::write(source_.far, asio::buffer(bytePattern(1000)));
  source_.far.shutdown(tcp::socket::shutdown_send);
  const SpliceResult result = relay(5000);
  EXPECT_EQ(result.ec, boost::beast::http::error::partial_message) << result.ec.message();
  EXPECT_TRUE(result.source_failed);
  EXPECT_EQ(result.moved, 1000U) << "what arrived was passed on";
  EXPECT_EQ(pipe_.readEnd(), -1) << "a pipe that may hold bytes is not reused";
  EXPECT_TRUE(pipe_.open());
}

TEST_F(SpliceRelayTest, ASinkThatIsGoneFailsOnTheSinkSide) {
  sink_.far.set_option(asio::socket_base::linger(true, 0));
  sink_.far.close();  // RST
  // As much as the source's buffers take without a reader.
  source_.far.non_blocking(true);
  const std::string bytes = bytePattern(64 * 1024);
  boost::system::error_code full;
  while (!full) source_.far.write_some(asio::buffer(bytes), full);
  const SpliceResult result = relay(4 * 1024 * 1024);
  EXPECT_TRUE(result.ec);
  EXPECT_FALSE(result.source_failed) << result.ec.message();
}

}  // namespace
}  // namespace turnpike::proxy
