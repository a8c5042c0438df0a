#include "proxy/splice_relay.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <cerrno>

namespace turnpike::proxy {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// 256 KiB: four times the default, so that a pipe full of loopback segments still carries a
// useful amount per splice. Not being allowed more (pipe-user-pages-soft) is fine.
constexpr int kPipeSize = 256 * 1024;
constexpr unsigned kFlags = SPLICE_F_MOVE | SPLICE_F_NONBLOCK;

boost::system::error_code lastError() { return {errno, boost::system::system_category()}; }

}  // namespace

bool SplicePipe::open() {
  if (fds_[0] >= 0) return true;
  if (::pipe2(fds_, O_CLOEXEC | O_NONBLOCK) != 0) {
    fds_[0] = fds_[1] = -1;
    return false;
  }
  ::fcntl(fds_[1], F_SETPIPE_SZ, kPipeSize);
  const int size = ::fcntl(fds_[1], F_GETPIPE_SZ);
  capacity_ = size > 0 ? static_cast<std::size_t>(size) : 64 * 1024;
  return true;
}

void SplicePipe::close() {
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
}

asio::awaitable<SpliceResult> spliceBody(tcp::socket& source, tcp::socket& sink, SplicePipe& pipe,
                                         uint64_t length,
                                         const std::function<void(SpliceWait)>& on_wait) {
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  SpliceResult result;
  // splice() on a socket honours the socket's own O_NONBLOCK, which Asio sets lazily.
  source.native_non_blocking(true, result.ec);
  if (!result.ec) sink.native_non_blocking(true, result.ec);
  if (result.ec) co_return result;
  uint64_t left = length;   // still to take from the source
  std::size_t in_pipe = 0;  // taken, not yet given to the sink
  auto fail = [&](boost::system::error_code ec, bool source_failed) {
    pipe.close();  // it may hold bytes of this body
    result.ec = ec;
    result.source_failed = source_failed;
    return result;
  };
  while (left > 0 || in_pipe > 0) {
    if (left > 0 && in_pipe < pipe.capacity()) {
      const std::size_t want =
          static_cast<std::size_t>(std::min<uint64_t>(left, pipe.capacity() - in_pipe));
      const ssize_t n =
          ::splice(source.native_handle(), nullptr, pipe.writeEnd(), nullptr, want, kFlags);
      if (n > 0) {
        left -= static_cast<uint64_t>(n);
        in_pipe += static_cast<std::size_t>(n);
      } else if (n == 0) {
        co_return fail(boost::beast::http::error::partial_message, true);
      } else if (errno == EINTR) {
        continue;
      } else if (errno != EAGAIN) {
        co_return fail(lastError(), true);
      } else if (in_pipe == 0) {
        // Nothing buffered and nothing to read: wait for the source. (With bytes in the pipe,
        // EAGAIN may also mean the pipe is full: give them to the sink first.)
        on_wait(SpliceWait::kSource);
        auto [ec] = co_await source.async_wait(tcp::socket::wait_read, kTuple);
        if (ec) co_return fail(ec, true);
        continue;
      }
    }
    if (in_pipe > 0) {
      const ssize_t n =
          ::splice(pipe.readEnd(), nullptr, sink.native_handle(), nullptr, in_pipe, kFlags);
      if (n > 0) {
        in_pipe -= static_cast<std::size_t>(n);
        result.moved += static_cast<uint64_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && errno == EAGAIN) {
        on_wait(SpliceWait::kSink);
        auto [ec] = co_await sink.async_wait(tcp::socket::wait_write, kTuple);
        if (ec) co_return fail(ec, false);
      } else {
        co_return fail(
            n == 0 ? asio::error::make_error_code(asio::error::broken_pipe) : lastError(), false);
      }
    }
  }
  co_return result;
}

}  // namespace turnpike::proxy
