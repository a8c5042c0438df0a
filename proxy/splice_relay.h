// spliceBody: moves a body of known length from one socket to another with splice(2) through a
// kernel pipe, so the bytes never enter user space. Large bodies cost two copies fewer per byte
// than a read() into a buffer and a write() out of it, which is most of what relaying them
// costs (the kernel's copy routines were a third of the proxy's CPU time on 1 MiB bodies).
//
//   SplicePipe pipe;  // per session, opened on first use
//   if (pipe.open()) {
//     SpliceResult r = co_await spliceBody(upstream, client, pipe, left, [&](SpliceWait w) {...});
//   }
//
// `on_wait` is called before each wait, with which side is awaited, so that the caller can arm
// the matching timeout; cancelling a socket (the caller's deadline) ends the wait with
// operation_aborted. After an error the pipe may hold bytes: it is closed, and the next
// open() makes a new one.
//
// THREAD: the sockets'. Linux only, as the rest of the gateway.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>

namespace turnpike::proxy {

class SplicePipe {
 public:
  SplicePipe() = default;
  ~SplicePipe() { close(); }
  SplicePipe(const SplicePipe&) = delete;
  SplicePipe& operator=(const SplicePipe&) = delete;

  // Opens the pipe unless it is open; false when the process cannot have one (file descriptor
  // limit): the caller relays through its buffer instead.
  bool open();
  void close();

  int readEnd() const { return fds_[0]; }
  int writeEnd() const { return fds_[1]; }
  std::size_t capacity() const { return capacity_; }

 private:
  int fds_[2] = {-1, -1};
  std::size_t capacity_ = 0;
};

enum class SpliceWait : uint8_t { kSource, kSink };

struct SpliceResult {
  boost::system::error_code ec;  // empty when all `length` bytes were moved
  bool source_failed = false;    // which side ec is about (the source closing early is
                                 // http::error::partial_message)
  uint64_t moved = 0;            // bytes written to the sink
};

boost::asio::awaitable<SpliceResult> spliceBody(boost::asio::ip::tcp::socket& source,
                                                boost::asio::ip::tcp::socket& sink,
                                                SplicePipe& pipe, uint64_t length,
                                                const std::function<void(SpliceWait)>& on_wait);

}  // namespace turnpike::proxy
