#include "proxy/upstream/upstream_connect.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "proxy/tls/upstream_context.h"

namespace turnpike::proxy::upstream {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

asio::awaitable<Opened> openUpstream(UpstreamConnection& connection, const UpstreamTarget& target,
                                     const tls::UpstreamContext* tls,
                                     std::optional<tcp::resolver>& resolver) {
  constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
  Opened out;
  tcp::socket& socket = connection.socket();
  const auto address = asio::ip::make_address(target.host, out.ec);
  if (!out.ec) {
    auto [ec] = co_await socket.async_connect(tcp::endpoint(address, target.port), kTuple);
    out.ec = ec;
  } else {
    resolver.emplace(socket.get_executor());
    auto [resolve_ec, endpoints] =
        co_await resolver->async_resolve(target.host, std::to_string(target.port), kTuple);
    out.ec = resolve_ec;
    if (!out.ec) {
      auto [ec, endpoint] = co_await asio::async_connect(socket, endpoints, kTuple);
      out.ec = ec;
    }
    resolver.reset();
  }
  if (out.ec) {
    out.detail = "cannot connect to " + target.url + ": " + out.ec.message();
    co_return out;
  }
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  if (!target.tls) co_return out;

  SSL* ssl = tls != nullptr ? tls->newSsl(target.host) : nullptr;
  if (ssl == nullptr) {
    out.ec = asio::error::no_memory;
    out.detail = "no TLS context for " + target.url;
    co_return out;
  }
  connection.stream.startTls(ssl, ByteStream::Role::kClient);
  auto [ec] = co_await connection.stream.handshake(kTuple);
  if (ec) {
    out.ec = ec;
    const std::string why = tls::UpstreamContext::failure(connection.stream.tlsHandle(), ec);
    out.detail = "TLS handshake with " + target.url + " failed: " + why;
    // A timeout is the caller's to report.
    if (ec != asio::error::operation_aborted) {
      spdlog::warn("upstream {}: TLS handshake failed: {}", target.url, why);
    }
  }
  co_return out;
}

}  // namespace turnpike::proxy::upstream
