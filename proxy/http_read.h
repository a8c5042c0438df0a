// readHttp: feeds a Beast parser from a socket and the bytes already buffered for it, and
// returns as soon as the caller has something to act on.
//
//   auto ec = co_await readHttp(socket, buffer, parser, ReadGoal::kHeader);
//   ...
//   parser.get().body() = {.data = piece, .size = sizeof piece, .more = true};
//   ec = co_await readHttp(socket, buffer, parser, ReadGoal::kBodyPiece);
//   // piece holds sizeof piece - parser.get().body().size bytes; parser.is_done() at the end
//
// Why not http::async_read/async_read_header: when the bytes are already buffered (the usual
// case for a small message), Beast's composed operations still post their completion through
// the scheduler, and async_read with a buffer_body waits until the whole piece buffer is full,
// holding back a streamed body (server-sent events, long polls) until 64 KiB have arrived.
// Here parsing buffered bytes costs no scheduler round trip, and a body piece is handed on
// as soon as one read delivered bytes.
//
// Errors are Beast's: http::error::* from the parser (header_limit, body_limit, bad_* ...),
// end_of_stream when the peer closed before the message started, partial_message when it
// closed in the middle, socket errors as they are.
//
// THREAD: the socket's.
#pragma once

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>

#include "proxy/http_fields.h"

namespace turnpike::proxy {

enum class ReadGoal : uint8_t {
  kHeader,     // until the header is complete (the body stays buffered)
  kBodyPiece,  // until some body bytes are in the body buffer, it is full, or the message ended
};

// readHttp()'s steps without the awaiting, for a caller that awaits the socket itself: when the
// bytes are already buffered (a small message read whole), it spares a coroutine frame, about
// 300 instructions.
//
//   HttpReadSteps<true> steps(parser, ReadGoal::kHeader);
//   std::optional<boost::system::error_code> done = steps.parse(buffer);
//   while (!done) {
//     auto [ec, n] = co_await socket.async_read_some(buffer.prepare(steps.readSize(buffer)), ...);
//     done = steps.read(buffer, ec, n);
//   }
//   // *done: the outcome, as readHttp() would have returned it
template <bool isRequest>
class HttpReadSteps {
 public:
  HttpReadSteps(HttpParser<isRequest>& parser, ReadGoal goal)
      : parser_(parser),
        goal_(goal),
        room_(goal == ReadGoal::kBodyPiece ? parser.get().body().size : 0) {
    parser.eager(goal == ReadGoal::kBodyPiece);
  }

  // Parses what `buffer` holds. The outcome once the goal is reached or the message failed;
  // nullopt when more bytes must be read.
  std::optional<boost::system::error_code> parse(boost::beast::flat_buffer& buffer) {
    namespace http = boost::beast::http;
    for (;;) {
      if (goal_ == ReadGoal::kHeader ? parser_.is_header_done() : parser_.is_done()) {
        return boost::system::error_code{};
      }
      if (buffer.size() == 0) return std::nullopt;
      boost::system::error_code ec;
      const std::size_t used = parser_.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == http::error::need_buffer) return boost::system::error_code{};  // piece full
      if (ec && ec != http::error::need_more) return ec;
      if (reached()) return boost::system::error_code{};
      if (ec || used == 0) return std::nullopt;
      // progress (a header, a chunk boundary): parse again
    }
  }

  // How much to read: what the buffer has room for, at least 512 bytes, at most 64 KiB (Beast's).
  static std::size_t readSize(const boost::beast::flat_buffer& buffer) {
    constexpr std::size_t kReadSize = 64 * 1024;
    return std::min(std::max<std::size_t>(512, buffer.capacity() - buffer.size()), kReadSize);
  }

  // After a read of `n` bytes into buffer.prepare(): commits them and parses. End of stream
  // before the message started is http::error::end_of_stream; in a message that runs until
  // close it ends the message, elsewhere it is partial_message.
  std::optional<boost::system::error_code> read(boost::beast::flat_buffer& buffer,
                                                boost::system::error_code read_ec, std::size_t n) {
    buffer.commit(n);
    if (read_ec == boost::asio::error::eof) {
      if (!parser_.got_some()) return boost::beast::http::error::end_of_stream;
      boost::system::error_code ec;
      parser_.put_eof(ec);
      return ec;
    }
    if (read_ec) return read_ec;
    return parse(buffer);
  }

 private:
  bool reached() const {
    if (goal_ == ReadGoal::kHeader) return parser_.is_header_done();
    return parser_.is_done() || parser_.get().body().size < room_;
  }

  HttpParser<isRequest>& parser_;
  ReadGoal goal_;
  std::size_t room_;  // kBodyPiece: the piece's size when the step started
};

// `Stream`: a tcp::socket or a ByteStream (byte_stream.h).
template <bool isRequest, class Stream>
boost::asio::awaitable<boost::system::error_code> readHttp(Stream& socket,
                                                           boost::beast::flat_buffer& buffer,
                                                           HttpParser<isRequest>& parser,
                                                           ReadGoal goal) {
  HttpReadSteps<isRequest> steps(parser, goal);
  std::optional<boost::system::error_code> done = steps.parse(buffer);
  while (!done) {
    auto [read_ec, n] = co_await socket.async_read_some(
        buffer.prepare(steps.readSize(buffer)), boost::asio::as_tuple(boost::asio::use_awaitable));
    done = steps.read(buffer, read_ec, n);
  }
  co_return *done;
}

// BodySource: the body of a message whose header `parser` has read, one piece at a time.
//
//   BodySource body(parser);
//   while (!body.done()) {
//     auto [ec, n] = co_await body.next(socket, buffer, piece, sizeof piece);
//     ...
//   }
//
// A body of known length (Content-Length, not chunked) is read straight into the piece, without
// the parser: one copy fewer for every relayed byte, which is what large bodies cost. Chunked
// bodies and bodies that end with the connection go through readHttp().
template <bool isRequest>
class BodySource {
 public:
  using Parser = HttpParser<isRequest>;

  explicit BodySource(Parser& parser) : parser_(parser) {
    const auto length = parser.content_length();
    by_length_ = length.has_value() && !parser.chunked() && !parser.is_done();
    if (by_length_) left_ = *length;
  }

  bool done() const { return by_length_ ? left_ == 0 : parser_.is_done(); }

  // The rest of a body of known length when none of it is buffered (it is all still in the
  // socket, for spliceBody()); else 0. moved() accounts for bytes taken past this class.
  uint64_t unbuffered(const boost::beast::flat_buffer& buffer) const {
    return by_length_ && buffer.size() == 0 ? left_ : 0;
  }
  void moved(uint64_t n) { left_ -= std::min(n, left_); }

  // What next() would give without waiting, without its coroutine frame: the next piece of a
  // body of known length from bytes already buffered (read with the header). nullopt: call
  // next().
  std::optional<std::size_t> takeBuffered(boost::beast::flat_buffer& buffer, char* piece,
                                          std::size_t size) {
    if (!by_length_ || buffer.size() == 0) return std::nullopt;
    const std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(size, left_));
    const std::size_t n = boost::asio::buffer_copy(boost::asio::buffer(piece, want), buffer.data());
    buffer.consume(n);
    left_ -= n;
    return n;
  }

  // Reads at least one byte of the body into [piece, piece + size), unless the body ended.
  template <class Stream>
  boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> next(
      Stream& socket, boost::beast::flat_buffer& buffer, char* piece, std::size_t size) {
    if (!by_length_) {
      auto& body = parser_.get().body();
      body.data = piece;
      body.size = size;
      const boost::system::error_code ec =
          co_await readHttp(socket, buffer, parser_, ReadGoal::kBodyPiece);
      co_return std::pair{ec, size - body.size};
    }
    if (const std::optional<std::size_t> n = takeBuffered(buffer, piece, size)) {
      co_return std::pair{boost::system::error_code{}, *n};
    }
    const std::size_t want = static_cast<std::size_t>(std::min<uint64_t>(size, left_));
    auto [ec, n] = co_await socket.async_read_some(
        boost::asio::buffer(piece, want), boost::asio::as_tuple(boost::asio::use_awaitable));
    left_ -= n;
    if (ec == boost::asio::error::eof) ec = boost::beast::http::error::partial_message;
    co_return std::pair{ec, n};
  }

 private:
  Parser& parser_;
  bool by_length_ = false;
  uint64_t left_ = 0;
};

}  // namespace turnpike::proxy
