// writeAll() on real loopback sockets: everything arrives, in order, whether the socket takes it
// at once or only after the reader has made room, and a peer that is gone is an error.
#include "proxy/socket_write.h"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "socket_test_util.h"

namespace turnpike::proxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

using testing::bytePattern;

class SocketWriteTest : public ::testing::Test {
 protected:
  struct Written {
    boost::system::error_code ec;
    std::size_t bytes = 0;
    bool finished = false;
    // Whether writeAll() had returned before the io_context ran any handler.
    bool in_place = false;
  };

  // Runs writeAll(writer_, buffers) to its end (or 10 s: a hang fails).
  template <class Buffers>
  Written write(const Buffers& buffers) {
    Written result;
    bool started = false;
    asio::co_spawn(
        io_,
        [&]() -> asio::awaitable<void> {
          started = true;
          auto [ec, n] = co_await writeAll(writer_, buffers);
          result = {.ec = ec, .bytes = n, .finished = true};
        },
        asio::detached);
    // co_spawn starts the coroutine through the scheduler: the first handler starts it, and a
    // write that needs no waiting is over when that handler returns.
    io_.run_one();
    result.in_place = started && result.finished;
    io_.run_for(std::chrono::seconds(10));
    io_.restart();
    EXPECT_TRUE(result.finished) << "writeAll did not finish";
    return result;
  }

  asio::io_context io_;
  testing::SocketPair pair_ = testing::connectedPair(io_);
  tcp::socket& writer_ = pair_.near;
  tcp::socket& reader_ = pair_.far;
};

TEST_F(SocketWriteTest, ASmallSequenceIsWrittenInPlaceAndArrivesWhole) {
  const std::string head = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
  const std::array<asio::const_buffer, 3> buffers = {asio::buffer(head), asio::const_buffer(),
                                                     asio::buffer("hello", 5)};
  const Written written = write(buffers);
  EXPECT_FALSE(written.ec) << written.ec.message();
  EXPECT_EQ(written.bytes, head.size() + 5);
  EXPECT_TRUE(written.in_place) << "a write the socket takes at once needs no asynchronous step";
  std::string received(head.size() + 5, '\0');
  asio::read(reader_, asio::buffer(received));
  EXPECT_EQ(received, head + "hello");
  EXPECT_TRUE(writer_.non_blocking());
}

TEST_F(SocketWriteTest, WhatTheSocketDoesNotTakeAtOnceFollowsWhenThereIsRoom) {
  writer_.set_option(asio::socket_base::send_buffer_size(16 * 1024));
  reader_.set_option(asio::socket_base::receive_buffer_size(16 * 1024));
  const std::string first = bytePattern(3 * 1024 * 1024);
  const std::string second = bytePattern(1000);
  const std::array<asio::const_buffer, 2> buffers = {asio::buffer(first), asio::buffer(second)};
  std::string received(first.size() + second.size(), '\0');
  std::thread reader([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    asio::read(reader_, asio::buffer(received));
  });
  const Written written = write(buffers);
  reader.join();
  EXPECT_FALSE(written.ec) << written.ec.message();
  EXPECT_EQ(written.bytes, received.size());
  EXPECT_FALSE(written.in_place) << "3 MiB cannot fit in 16 KiB socket buffers";
  EXPECT_TRUE(received == first + second) << "the bytes arrived changed or out of order";
}

TEST_F(SocketWriteTest, AnEmptySequenceWritesNothing) {
  const std::array<asio::const_buffer, 2> buffers = {};
  const Written written = write(buffers);
  EXPECT_FALSE(written.ec) << written.ec.message();
  EXPECT_EQ(written.bytes, 0U);
  EXPECT_TRUE(written.in_place);
}

TEST_F(SocketWriteTest, APeerThatIsGoneIsAnError) {
  reader_.set_option(asio::socket_base::linger(true, 0));
  reader_.close();  // RST
  std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::string bytes = bytePattern(64 * 1024);
  Written written = write(asio::buffer(bytes));
  if (!written.ec) written = write(asio::buffer(bytes));  // the first send may still be taken
  EXPECT_TRUE(written.ec) << "writing to a reset connection must fail";
  EXPECT_NE(written.ec, asio::error::would_block);
}

}  // namespace
}  // namespace turnpike::proxy
