// writeAll: writes a whole buffer sequence to a socket, as asio::async_write does, but tries one
// non-blocking send in place first.
//
//   auto [ec, n] = co_await writeAll(socket, buffers);  // n: bytes written
//
// `buffers` is taken by reference (a copy would sit in every caller's coroutine frame): it must
// live until the co_await is over, as a temporary in the co_await's own expression does.
//
// Why: a response head with a small body, or a request head, almost always fits in the socket's
// send buffer. async_write sends it speculatively too, but still goes through the reactor and
// posts its completion through the scheduler before the coroutine resumes. Here that case costs
// one sendmsg and no asynchronous operation; only what the socket did not take is left to
// async_write (which waits for the socket to become writable). Errors are the socket's, as
// async_write reports them.
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

template <class ConstBufferSequence>
boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> writeAll(
    boost::asio::ip::tcp::socket& socket, const ConstBufferSequence& buffers) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  if (!socket.non_blocking()) socket.non_blocking(true, ec);
  std::size_t sent = 0;
  if (!ec) sent = socket.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec = {};
  if (ec || sent == asio::buffer_size(buffers)) co_return std::tuple(ec, sent);

  boost::beast::buffers_suffix<ConstBufferSequence> rest(buffers);
  rest.consume(sent);
  auto [rest_ec, n] = co_await asio::async_write(socket, rest, asio::as_tuple(asio::use_awaitable));
  co_return std::tuple(rest_ec, sent + n);
}

}  // namespace turnpike::proxy
