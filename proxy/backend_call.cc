#include "proxy/backend_call.h"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <optional>

#include "proxy/policy/route_transforms.h"
#include "proxy/socket_write.h"
#include "proxy/upstream/connection_pool.h"
#include "proxy/upstream/service_balancer.h"
#include "proxy/upstream/upstream_connect.h"
#include "proxy/worker.h"

namespace turnpike::proxy {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

// What the timer cancels when the call's time is up. Shared with the timer's handler, which may
// run after the call returned (then it finds nothing to cancel).
struct Cancel {
  tcp::socket* socket = nullptr;
  std::optional<tcp::resolver> resolver;  // openUpstream's, while it resolves
  bool fired = false;

  void operator()() {
    fired = true;
    boost::system::error_code ignored;
    if (socket != nullptr) socket->cancel(ignored);
    if (resolver) resolver->cancel();
  }
};

}  // namespace

asio::awaitable<BackendAnswer> callBackend(Worker& worker, const BackendCall& call) {
  BackendAnswer answer;
  const CompiledService& service = *call.service;
  std::shared_ptr<upstream::ServiceBalancer> balancer = worker.balancer(service, call.version);
  const std::optional<std::size_t> picked = balancer->pick({}, Clock::now(), 0);
  if (!picked) {
    answer.error = "no healthy target for service " + service.name();
    co_return answer;
  }
  const uint64_t generation = balancer->generation();
  const UpstreamTarget target = balancer->target(*picked);
  answer.url = target.url;
  // The balancer may have been rebound to a newer snapshot while the call waited.
  auto current = [&]() -> std::optional<std::size_t> {
    if (balancer->generation() == generation) return picked;
    return balancer->indexOf(target.url);
  };
  auto report = [&](bool ok) {
    const std::optional<std::size_t> index = current();
    if (!index) return;
    if (ok) {
      balancer->reportSuccess(*index);
    } else {
      balancer->reportFailure(*index, Clock::now());
    }
  };
  balancer->onRequestStart(*picked);  // least_connections counts it
  struct InFlight {
    const decltype(current)& index;
    upstream::ServiceBalancer& balancer;
    ~InFlight() {
      if (auto now = index()) balancer.onRequestEnd(*now);
    }
  } in_flight{current, *balancer};

  auto executor = co_await asio::this_coro::executor;
  auto cancel = std::make_shared<Cancel>();
  asio::steady_timer timer(executor);
  timer.expires_after(call.timeout);
  timer.async_wait([cancel](boost::system::error_code ec) {
    if (!ec) (*cancel)();
  });
  struct StopTimer {
    asio::steady_timer& timer;
    Cancel& cancel;
    ~StopTimer() {
      cancel.socket = nullptr;
      timer.cancel();
    }
  } stop_timer{timer, *cancel};

  std::string head;
  {
    UpstreamRequestHead request = call.head;
    request.host = target.authority;
    const Fields none;  // no client fields: an aggregate passes on none of them
    appendUpstreamRequestHead(none, request, head);
  }

  const bool retryable = isIdempotentMethod(call.head.method);
  for (int attempt = 0; attempt < 2; ++attempt) {
    std::unique_ptr<upstream::UpstreamConnection> connection = worker.pool().take(target.poolKey());
    // A request that must not go twice never goes on a connection the upstream has closed.
    if (connection && !retryable && upstream::ConnectionPool::isClosedByPeer(*connection)) {
      connection.reset();
    }
    const bool reused = connection != nullptr;
    if (!connection) {
      connection = std::make_unique<upstream::UpstreamConnection>(executor);
      connection->key = target.poolKey();
      cancel->socket = &connection->socket();
      upstream::Opened opened =
          co_await upstream::openUpstream(*connection, target, service.tls.get(), cancel->resolver);
      if (opened.ec) {
        answer.timed_out = cancel->fired;
        answer.error = answer.timed_out ? "connecting to " + target.url + " timed out"
                                        : std::move(opened.detail);
        report(false);
        co_return answer;
      }
    }
    cancel->socket = &connection->socket();

    auto [write_ec, written] = co_await writeAll(connection->stream, asio::buffer(head));
    http::response_parser<http::string_body> parser;
    parser.header_limit(kMaxHeaderBytes);
    parser.body_limit(kMaxBackendBody);
    boost::system::error_code ec = write_ec;
    if (!ec) {
      auto [read_ec, read] =
          co_await http::async_read(connection->stream, connection->buffer, parser, kTuple);
      ec = read_ec;
    }
    cancel->socket = nullptr;
    if (ec) {
      answer.timed_out = cancel->fired;
      if (reused && retryable && !answer.timed_out && !parser.got_some() && attempt == 0) {
        continue;
      }
      answer.error = answer.timed_out ? "no answer from " + target.url + " within " +
                                            std::to_string(call.timeout.count()) + " ms"
                                      : "the upstream " + target.url + " failed: " + ec.message();
      report(false);
      co_return answer;
    }
    report(true);
    auto& response = parser.get();
    answer.status = static_cast<int>(response.result_int());
    answer.content_type = response[http::field::content_type];
    answer.content_encoding = response[http::field::content_encoding];
    if (response.keep_alive() && connection->buffer.size() == 0) {
      ++connection->requests;
      worker.pool().put(std::move(connection), Clock::now());
    }
    answer.body = std::move(response.body());
    co_return answer;
  }
  co_return answer;  // not reached: the second attempt always returns
}

namespace {

// `raw` as a query value: decoded, then everything encoded but the unreserved characters.
void appendQueryValue(std::string_view raw, std::string& out) {
  policy::appendPercentEncoded(out, policy::percentDecode(raw));
}

}  // namespace

void fillBackendTarget(std::string_view path, const std::vector<PathParam>& params,
                       std::string& out) {
  out.clear();
  const std::size_t query = path.find('?');
  std::size_t consumed = 0;  // of the template, for telling path from query
  for (;;) {
    const std::size_t open = path.find('{');
    const std::size_t close = open == std::string_view::npos ? open : path.find('}', open);
    if (close == std::string_view::npos) break;
    out.append(path.substr(0, open));
    const std::string_view name = path.substr(open + 1, close - open - 1);
    const bool in_query = query != std::string_view::npos && consumed + open > query;
    for (const PathParam& param : params) {
      if (param.name != name) continue;
      if (in_query) {
        appendQueryValue(param.value, out);
      } else {
        out.append(param.value);
      }
      break;
    }
    path.remove_prefix(close + 1);
    consumed += close + 1;
  }
  out.append(path);
}

}  // namespace turnpike::proxy
