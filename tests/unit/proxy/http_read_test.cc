// readHttp() and BodySource on real loopback sockets: what they read from the buffer, what they
// wait for, and where they stop.
#include "proxy/http_read.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <chrono>
#include <string>
#include <string_view>

namespace turnpike::proxy {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using std::chrono::milliseconds;

// A connected pair of loopback sockets on one io_context.
struct SocketPair {
  asio::io_context io;
  tcp::socket ours{io};
  tcp::socket theirs{io};

  SocketPair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    theirs.connect(acceptor.local_endpoint());
    acceptor.accept(ours);
  }

  void send(std::string_view bytes) { asio::write(theirs, asio::buffer(bytes)); }

  // Runs `body` as a coroutine until it finishes (or 5 s pass: a test that hangs fails).
  template <class Body>
  bool run(Body body) {
    bool finished = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await body();
          finished = true;
        },
        asio::detached);
    io.run_for(std::chrono::seconds(5));
    io.restart();
    return finished;
  }
};

template <bool isRequest>
std::string pieceOf(HttpParser<isRequest>& parser, const char* start) {
  return std::string(
      start, static_cast<std::size_t>(static_cast<const char*>(parser.get().body().data) - start));
}

TEST(HttpReadTest, AHeaderAlreadyBufferedIsParsedWithoutReading) {
  SocketPair pair;
  beast::flat_buffer buffer;
  const std::string_view request = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n";
  asio::buffer_copy(buffer.prepare(request.size()), asio::buffer(request));
  buffer.commit(request.size());
  HttpParser<true> parser;
  boost::system::error_code ec = asio::error::would_block;
  // Nothing is ever sent on the socket: a read would never finish.
  ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
    ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
  }));
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_EQ(parser.get().target(), "/a");
  EXPECT_TRUE(parser.is_done());
  EXPECT_EQ(beast::buffers_to_string(buffer.data()), "GET /b HTTP/1.1\r\n")
      << "the next request stays buffered";
}

TEST(HttpReadTest, ABodyPieceIsHandedOnAsSoonAsBytesArrive) {
  SocketPair pair;
  beast::flat_buffer buffer;
  HttpParser<false> parser;
  char piece[64 * 1024];
  std::string first;
  std::string second;
  pair.send("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc");
  ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
    auto ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
    EXPECT_FALSE(ec) << ec.message();
    parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
    ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kBodyPiece);
    EXPECT_FALSE(ec) << ec.message();
    first = pieceOf(parser, piece);  // "def" has not been sent yet
  }));
  EXPECT_EQ(first, "abc");
  EXPECT_FALSE(parser.is_done());
  pair.send("def");
  ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
    parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
    auto ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kBodyPiece);
    EXPECT_FALSE(ec) << ec.message();
    second = pieceOf(parser, piece);
  }));
  EXPECT_EQ(second, "def");
  EXPECT_TRUE(parser.is_done());
}

TEST(HttpReadTest, AChunkedBodySplitAcrossReadsIsDecoded) {
  SocketPair pair;
  beast::flat_buffer buffer;
  HttpParser<false> parser;
  char piece[64 * 1024];
  std::string body;
  pair.send("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
  ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
    auto ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
    EXPECT_FALSE(ec) << ec.message();
    // The rest arrives while the pieces are being read.
    asio::steady_timer later(pair.io, milliseconds(50));
    later.async_wait([&](auto) { pair.send("lo\r\n6\r\n world\r\n0\r\n\r\n"); });
    while (!parser.is_done()) {
      parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
      ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kBodyPiece);
      if (ec) break;
      body += pieceOf(parser, piece);
    }
    EXPECT_FALSE(ec) << ec.message();
  }));
  EXPECT_EQ(body, "hello world");
  EXPECT_EQ(buffer.size(), 0U);
}

TEST(HttpReadTest, ClosesBeforeAndInsideAMessage) {
  {
    SocketPair pair;
    beast::flat_buffer buffer;
    HttpParser<true> parser;
    pair.theirs.shutdown(tcp::socket::shutdown_send);
    boost::system::error_code ec;
    ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
      ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
    }));
    EXPECT_EQ(ec, http::error::end_of_stream) << ec.message();
  }
  {
    SocketPair pair;
    beast::flat_buffer buffer;
    HttpParser<false> parser;
    char piece[1024];
    pair.send("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    pair.theirs.shutdown(tcp::socket::shutdown_send);
    boost::system::error_code ec;
    ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
      ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
      EXPECT_FALSE(ec);
      parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
      ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kBodyPiece);  // "abc"
      EXPECT_FALSE(ec);
      parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
      ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kBodyPiece);
    }));
    EXPECT_EQ(ec, http::error::partial_message) << ec.message();
  }
}

TEST(HttpReadTest, AHeaderOverTheLimitIsRefused) {
  SocketPair pair;
  beast::flat_buffer buffer;
  HttpParser<true> parser;
  parser.header_limit(1024);
  pair.send("GET / HTTP/1.1\r\nX-Big: " + std::string(4096, 'a'));
  boost::system::error_code ec;
  ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
    ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
  }));
  EXPECT_EQ(ec, http::error::header_limit) << ec.message();
}

TEST(BodySourceTest, ABodyOfKnownLengthStopsAtItsEnd) {
  SocketPair pair;
  beast::flat_buffer buffer;
  HttpParser<true> parser;
  // The body's first bytes arrive with the header; a pipelined request follows the body.
  pair.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\n\r\n0123");
  std::string body;
  ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
    auto ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
    EXPECT_FALSE(ec);
    BodySource<true> source(parser);
    EXPECT_EQ(source.unbuffered(buffer), 0U) << "part of it is buffered";
    char piece[3];
    asio::steady_timer later(pair.io, milliseconds(20));
    later.async_wait([&](auto) { pair.send("4567GET /next HTTP/1.1\r\n\r\n"); });
    while (!source.done()) {
      auto [read_ec, n] = co_await source.next(pair.ours, buffer, piece, sizeof piece);
      if (read_ec) break;
      body.append(piece, n);
    }
  }));
  EXPECT_EQ(body, "01234567");
  EXPECT_EQ(buffer.size(), 0U);
  std::string rest(64, '\0');
  rest.resize(pair.ours.read_some(asio::buffer(rest)));
  EXPECT_EQ(rest.rfind("GET /next ", 0), 0U) << "not one byte of the next request was taken";
}

TEST(BodySourceTest, AShortBodyOfKnownLengthIsAPartialMessage) {
  SocketPair pair;
  beast::flat_buffer buffer;
  HttpParser<true> parser;
  pair.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n");
  pair.theirs.shutdown(tcp::socket::shutdown_send);
  boost::system::error_code ec;
  ASSERT_TRUE(pair.run([&]() -> asio::awaitable<void> {
    ec = co_await readHttp(pair.ours, buffer, parser, ReadGoal::kHeader);
    BodySource<true> source(parser);
    EXPECT_EQ(source.unbuffered(buffer), 100U);
    char piece[64];
    auto [read_ec, n] = co_await source.next(pair.ours, buffer, piece, sizeof piece);
    ec = read_ec;
  }));
  EXPECT_EQ(ec, http::error::partial_message) << ec.message();
}

}  // namespace
}  // namespace turnpike::proxy
