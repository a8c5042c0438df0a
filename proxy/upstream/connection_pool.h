// ConnectionPool: one worker's idle keep-alive connections to upstream targets, keyed by the
// target's poolKey() (its url, and for https:// the service's TLS settings, so that a connection
// is reused only under the settings it was verified with), so that a new snapshot with the same
// targets keeps them.
//
//   std::unique_ptr<UpstreamConnection> c = pool.take(target.poolKey());  // null: connect one
//   ... send a request, read the whole response ...
//   if (reusable) pool.put(std::move(c));                           // else let it close
//
// Reuse is LIFO (the most recently used connection is the least likely to have been closed by
// the upstream). An idle connection may still have been closed by the upstream: the caller
// retries an idempotent request once on a fresh connection when a reused one fails before any
// response byte (DESIGN.md, pitfalls), and checks isClosedByPeer() before sending a request that
// cannot be retried. sweep() closes connections idle longer than the idle timeout.
//
// THREAD: one per worker, used only on that worker's thread; no locks. COST: take/put are one
// hash lookup and a vector push/pop.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/byte_stream.h"
#include "proxy/string_map.h"

namespace turnpike::proxy::upstream {

// A connection to one upstream target (TLS over TCP for https://) and the bytes read from it
// but not yet parsed (they belong to this connection: a pipelined or early byte must never reach
// another request).
struct UpstreamConnection {
  explicit UpstreamConnection(const boost::asio::any_io_executor& executor) : stream(executor) {}

  boost::asio::ip::tcp::socket& socket() { return stream.socket(); }

  ByteStream stream;
  boost::beast::flat_buffer buffer;
  std::string key;        // the target's poolKey() this connection belongs to
  uint32_t requests = 0;  // requests completed on it (0: fresh)
  std::chrono::steady_clock::time_point idle_since;
};

class ConnectionPool {
 public:
  using Clock = std::chrono::steady_clock;

  ConnectionPool(std::size_t max_idle_per_target, std::chrono::milliseconds idle_timeout);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  // The most recently used idle connection to `key`, or null.
  std::unique_ptr<UpstreamConnection> take(std::string_view key);

  // Keeps `connection` for reuse (it must have finished a whole response); closes it instead
  // when it carries unread bytes (in its buffer, or decrypted by TLS) or the target already has
  // max_idle_per_target idle ones.
  void put(std::unique_ptr<UpstreamConnection> connection, Clock::time_point now);

  // Closes connections idle since before now - idle_timeout. Returns how many it closed.
  std::size_t sweep(Clock::time_point now);

  // Closes every idle connection (shutdown).
  void clear();

  std::size_t idleCount() const { return idle_count_; }

  // True when the peer has closed the connection or sent unexpected bytes while it was idle:
  // a non-blocking MSG_PEEK, one syscall. (Over TLS, bytes while idle are most likely the
  // target's close_notify; a late session ticket costs a fresh connection, nothing worse.)
  static bool isClosedByPeer(UpstreamConnection& connection);

 private:
  std::size_t max_idle_per_target_;
  std::chrono::milliseconds idle_timeout_;
  std::size_t idle_count_ = 0;
  StringMap<std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
};

}  // namespace turnpike::proxy::upstream
