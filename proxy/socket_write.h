// Writing to a socket as asio::async_write does, but with one non-blocking send in place first.
//
//   auto [ec, n] = co_await writeAll(socket, buffers);  // n: bytes written
//
//   // on a hot path, without even a coroutine call when the socket takes everything:
//   Written sent = sendNow(socket, buffers);
//   if (sent.rest) sent = co_await sendRest(socket, buffers, sent.bytes);
//
// Why: a response head with a small body, or a request head, almost always fits in the socket's
// send buffer. async_write sends it speculatively too, but still goes through the reactor and
// posts its completion through the scheduler before the coroutine resumes. Here that case costs
// one sendmsg and no asynchronous operation; only what the socket did not take is left to
// async_write (which waits for the socket to become writable). Errors are the socket's, as
// async_write reports them.
//
// `buffers` is taken by reference (a copy would sit in every caller's coroutine frame): it must
// live until the co_await is over, as a temporary in the co_await's own expression does.
//
// The socket is switched to non-blocking mode (Asio's user flag) on first use, so a synchronous
// operation on it afterwards fails with would_block instead of waiting.
//
// THREAD: the socket's.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <cstddef>
#include <tuple>

namespace turnpike::proxy {

// The outcome of a write, or of its first part.
struct Written {
  boost::system::error_code ec;
  std::size_t bytes = 0;  // written so far
  bool rest = false;      // no error, and not everything is written yet: sendRest() goes on
};

// One non-blocking send of as much of `buffers` as the socket takes now.
template <class ConstBufferSequence>
Written sendNow(boost::asio::ip::tcp::socket& socket, const ConstBufferSequence& buffers) {
  namespace asio = boost::asio;
  Written sent;
  if (!socket.non_blocking()) socket.non_blocking(true, sent.ec);
  if (!sent.ec) sent.bytes = socket.write_some(buffers, sent.ec);
  if (sent.ec == asio::error::would_block || sent.ec == asio::error::try_again) sent.ec = {};
  sent.rest = !sent.ec && sent.bytes < asio::buffer_size(buffers);
  return sent;
}

// Writes what follows the first `written` bytes of `buffers`, waiting for room as needed.
template <class ConstBufferSequence>
boost::asio::awaitable<Written> sendRest(boost::asio::ip::tcp::socket& socket,
                                         const ConstBufferSequence& buffers, std::size_t written) {
  namespace asio = boost::asio;
  boost::beast::buffers_suffix<ConstBufferSequence> rest(buffers);
  rest.consume(written);
  auto [ec, n] = co_await asio::async_write(socket, rest, asio::as_tuple(asio::use_awaitable));
  co_return Written{.ec = ec, .bytes = written + n};
}

template <class ConstBufferSequence>
boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> writeAll(
    boost::asio::ip::tcp::socket& socket, const ConstBufferSequence& buffers) {
  Written sent = sendNow(socket, buffers);
  if (sent.rest) sent = co_await sendRest(socket, buffers, sent.bytes);
  co_return std::tuple(sent.ec, sent.bytes);
}

}  // namespace turnpike::proxy
