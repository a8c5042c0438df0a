// openUpstream: a new connection to an upstream target, ready for a request: the host resolved
// when it is a name, TCP connected (no Nagle), and for an https:// target the TLS handshake with
// the service's context (tls/upstream_context.h), which verifies the target.
//
//   std::optional<tcp::resolver> resolver;         // where a timeout can cancel it
//   Opened opened = co_await openUpstream(*connection, target, service.tls.get(), resolver);
//   if (opened.ec) answer 502 with opened.detail ("TLS handshake with https://... failed: ...")
//
// The caller bounds it with its own timer, which cancels connection.socket() and the resolver.
// A failed TLS handshake is also logged (warning), with the reason.
//
// THREAD: the connection's.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <optional>
#include <string>

#include "proxy/compiled_service.h"
#include "proxy/upstream/connection_pool.h"

namespace turnpike::proxy::upstream {

struct Opened {
  boost::system::error_code ec;  // set when it failed
  std::string detail;            // why, in words, naming the target: for a problem detail
};

boost::asio::awaitable<Opened> openUpstream(
    UpstreamConnection& connection, const UpstreamTarget& target, const tls::UpstreamContext* tls,
    std::optional<boost::asio::ip::tcp::resolver>& resolver);

}  // namespace turnpike::proxy::upstream
