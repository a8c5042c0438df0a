// ByteStream: a connection's byte stream, plain TCP or TLS over it, behind one interface, so
// that a client session serves both listeners, and talks to http:// and https:// targets, with the
// same code.
//
//   ByteStream client(std::move(socket));
//   client.startTls(ssl, ByteStream::Role::kServer);          // the TLS listener; kClient to an
//   auto [ec] = co_await client.handshake(kTuple);            //   https:// target
//   auto [ec, n] = co_await client.async_read_some(buffer, kTuple);
//   Written sent = sendNow(client, buffers);                  // socket_write.h, as for a socket
//   if (sent.rest) sent = co_await sendRest(client, buffers, sent.bytes);
//
// Plain connections keep every fast path of a bare socket (sendNow's one non-blocking send,
// splicing bodies from socket to socket). Over TLS, sendNow() sends nothing and leaves it all to
// sendRest(), which gathers a head and body piece into one TLS record when they fit (Asio's
// ssl::stream writes only the first buffer of a sequence per record); splicing does not apply.
//
// async_read_some() and handshake() take Asio's as_tuple(use_awaitable) completion token: the
// same awaitable type comes out of either stream.
//
// Not movable: the TLS stream holds a reference to the socket beside it.
//
// THREAD: the connection's worker thread only.
#pragma once

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_suffix.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <tuple>
#include <utility>

#include "proxy/socket_write.h"

namespace turnpike::proxy {

class ByteStream {
 public:
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>;
  using executor_type = boost::asio::ip::tcp::socket::executor_type;
  enum class Role { kServer, kClient };

  explicit ByteStream(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}
  explicit ByteStream(const boost::asio::any_io_executor& executor) : socket_(executor) {}
  ByteStream(const ByteStream&) = delete;
  ByteStream& operator=(const ByteStream&) = delete;

  boost::asio::ip::tcp::socket& socket() { return socket_; }
  executor_type get_executor() { return socket_.get_executor(); }
  bool isTls() const { return tls_ != nullptr; }
  // The TLS connection (null for a plain one): peer certificate, SNI, ALPN.
  SSL* tlsHandle() { return tls_ ? tls_->native_handle() : nullptr; }

  // Whether TLS holds decrypted bytes that no read has taken yet (never for a plain stream).
  bool tlsPending() { return tls_ && SSL_pending(tls_->native_handle()) > 0; }

  // Speaks TLS over the socket from now on, as `role`; takes ownership of `ssl` (made from the
  // listener's context, or a target's). Before any byte was read or written.
  void startTls(SSL* ssl, Role role) {
    tls_ = std::make_unique<TlsStream>(socket_, ssl);
    role_ = role;
  }

  template <class CompletionToken>
  auto handshake(CompletionToken&& token) {
    return tls_->async_handshake(role_ == Role::kServer ? boost::asio::ssl::stream_base::server
                                                        : boost::asio::ssl::stream_base::client,
                                 std::forward<CompletionToken>(token));
  }
  // Sends close_notify and waits for the peer's (or its close, or a cancel).
  template <class CompletionToken>
  auto tlsShutdown(CompletionToken&& token) {
    return tls_->async_shutdown(std::forward<CompletionToken>(token));
  }

  template <class MutableBuffers, class CompletionToken>
  auto async_read_some(const MutableBuffers& buffers, CompletionToken&& token) {
    if (tls_) return tls_->async_read_some(buffers, std::forward<CompletionToken>(token));
    return socket_.async_read_some(buffers, std::forward<CompletionToken>(token));
  }

  // For Beast's writers (health probes); the proxy's own paths use sendNow() and sendRest().
  template <class ConstBuffers, class CompletionToken>
  auto async_write_some(const ConstBuffers& buffers, CompletionToken&& token) {
    if (tls_) return tls_->async_write_some(buffers, std::forward<CompletionToken>(token));
    return socket_.async_write_some(buffers, std::forward<CompletionToken>(token));
  }

  // For sendRest(): writes `buffers` whole through TLS, gathered into one piece first when that
  // makes one record out of several small buffers.
  template <class ConstBuffers>
  boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> writeTls(
      const ConstBuffers& buffers) {
    namespace asio = boost::asio;
    constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
    const std::size_t size = asio::buffer_size(buffers);
    if (size <= kGatherBelow &&
        std::next(asio::buffer_sequence_begin(buffers)) != asio::buffer_sequence_end(buffers)) {
      gathered_.resize(size);
      asio::buffer_copy(asio::buffer(gathered_), buffers);
      co_return co_await asio::async_write(*tls_, asio::buffer(gathered_), kTuple);
    }
    co_return co_await asio::async_write(*tls_, buffers, kTuple);
  }

 private:
  // A TLS record carries at most 16 KiB; several buffers up to that size go out as one.
  static constexpr std::size_t kGatherBelow = 16 * 1024;

  boost::asio::ip::tcp::socket socket_;
  std::unique_ptr<TlsStream> tls_;
  Role role_ = Role::kServer;
  std::string gathered_;
};

template <class ConstBufferSequence>
Written sendNow(ByteStream& stream, const ConstBufferSequence& buffers) {
  if (stream.isTls()) {
    return Written{.bytes = 0, .rest = boost::asio::buffer_size(buffers) > 0};
  }
  return sendNow(stream.socket(), buffers);
}

template <class ConstBufferSequence>
boost::asio::awaitable<Written> sendRest(ByteStream& stream, const ConstBufferSequence& buffers,
                                         std::size_t written) {
  if (!stream.isTls()) co_return co_await sendRest(stream.socket(), buffers, written);
  boost::beast::buffers_suffix<ConstBufferSequence> rest(buffers);
  rest.consume(written);
  auto [ec, n] = co_await stream.writeTls(rest);
  co_return Written{.ec = ec, .bytes = written + n};
}

template <class ConstBufferSequence>
boost::asio::awaitable<std::tuple<boost::system::error_code, std::size_t>> writeAll(
    ByteStream& stream, const ConstBufferSequence& buffers) {
  Written sent = sendNow(stream, buffers);
  if (sent.rest) sent = co_await sendRest(stream, buffers, sent.bytes);
  co_return std::tuple(sent.ec, sent.bytes);
}

}  // namespace turnpike::proxy
