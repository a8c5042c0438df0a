#include "proxy/upstream/health_checker.h"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <mutex>
#include <optional>

#include "proxy/upstream/upstream_connect.h"

namespace turnpike::proxy::upstream {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr std::chrono::milliseconds kTick{50};

// One probe: true when the target answered 2xx or 3xx in time. An https:// target is probed
// over TLS with the service's settings, so a target whose certificate no longer verifies is
// marked down.
asio::awaitable<bool> probe(UpstreamTarget target, std::shared_ptr<const tls::UpstreamContext> tls,
                            std::string path, std::chrono::milliseconds connect_timeout,
                            std::chrono::milliseconds answer_timeout) {
  auto executor = co_await asio::this_coro::executor;
  UpstreamConnection connection(executor);
  std::optional<tcp::resolver> resolver;
  // What the timer cancels. Shared with its handler, which may run after the probe ended (the
  // pointers are null then) or after the timer was re-armed (the generation moved on).
  struct Watch {
    tcp::socket* socket = nullptr;
    std::optional<tcp::resolver>* resolver = nullptr;
    unsigned generation = 0;
  };
  auto watch =
      std::make_shared<Watch>(Watch{.socket = &connection.socket(), .resolver = &resolver});
  asio::steady_timer timer(executor);
  auto arm = [&](std::chrono::milliseconds timeout) {
    const unsigned generation = ++watch->generation;
    timer.expires_after(timeout);
    timer.async_wait([watch, generation](boost::system::error_code ec) {
      if (ec || watch->socket == nullptr || watch->generation != generation) return;
      boost::system::error_code ignored;
      watch->socket->cancel(ignored);
      if (*watch->resolver) (*watch->resolver)->cancel();
    });
  };
  struct StopTimer {
    asio::steady_timer& timer;
    Watch& watch;
    ~StopTimer() {
      watch.socket = nullptr;
      watch.resolver = nullptr;
      timer.cancel();
    }
  } stop_timer{timer, *watch};

  arm(connect_timeout);
  Opened opened = co_await openUpstream(connection, target, tls.get(), resolver);
  if (opened.ec) co_return false;
  http::request<http::empty_body> request{http::verb::get, path, 11};
  request.set(http::field::host, target.authority);
  request.set(http::field::user_agent, "turnpike-health-check");
  request.set(http::field::connection, "close");
  arm(answer_timeout);
  auto [write_ec, written] = co_await http::async_write(connection.stream, request, kTuple);
  if (write_ec) co_return false;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // the status is enough; the body is not read
  auto [read_ec, read] =
      co_await http::async_read_header(connection.stream, connection.buffer, parser, kTuple);
  if (read_ec) co_return false;
  const unsigned status = parser.get().result_int();
  boost::system::error_code ignored;
  connection.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return status >= 200 && status < 400;
}

}  // namespace

struct HealthChecker::TargetState {
  Clock::time_point next_probe{};
  bool probing = false;
  bool healthy = true;
  int failures = 0;
  int successes = 0;
  bool seen = false;  // still in the current snapshot (mark and sweep)
};

struct HealthChecker::State {
  explicit State(asio::io_context& context) : timer(context) {}
  asio::steady_timer timer;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<TargetState>> targets;
  mutable std::mutex down_mu;  // guards down_list
  std::vector<std::pair<std::string, std::string>> down_list;
};

HealthChecker::HealthChecker(SnapshotRegistry& registry, Listener listener)
    : registry_(registry),
      listener_(std::move(listener)),
      context_(1),
      state_(std::make_unique<State>(context_)) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::start() {
  if (thread_.joinable()) return;
  tick();
  thread_ = std::thread([this] { context_.run(); });
}

void HealthChecker::stop() {
  context_.stop();
  if (thread_.joinable()) thread_.join();
}

std::vector<std::pair<std::string, std::string>> HealthChecker::down() const {
  std::lock_guard lock(state_->down_mu);
  return state_->down_list;
}

void HealthChecker::tick() {
  const auto now = Clock::now();
  SnapshotConstSharedPtr snapshot = registry_.current();
  for (auto& [key, target] : state_->targets) target->seen = false;
  for (const CompiledService& service : snapshot->services()) {
    if (!service.def->health_check) continue;
    const model::HealthCheck& check = *service.def->health_check;
    for (const UpstreamTarget& target : service.targets) {
      auto& slot = state_->targets[{service.id(), target.url}];
      if (!slot) slot = std::make_shared<TargetState>();
      slot->seen = true;
      if (slot->probing || now < slot->next_probe) continue;
      slot->probing = true;
      const auto interval = std::chrono::milliseconds(check.interval_ms);
      slot->next_probe = now + interval;
      const auto answer_timeout = std::min(service.read_timeout, interval);
      asio::co_spawn(
          context_, probe(target, service.tls, check.path, service.connect_timeout, answer_timeout),
          [this, slot, service_id = service.id(), url = target.url,
           unhealthy_after = check.unhealthy_after,
           healthy_after = check.healthy_after](std::exception_ptr error, bool ok) {
            slot->probing = false;
            if (error) ok = false;
            if (!slot->seen) return;  // left the configuration meanwhile
            if (ok) {
              slot->failures = 0;
              if (!slot->healthy && ++slot->successes >= healthy_after) {
                slot->healthy = true;
                slot->successes = 0;
                spdlog::info("health check: {} of service {} is healthy again", url, service_id);
                {
                  std::lock_guard lock(state_->down_mu);
                  std::erase(state_->down_list, std::make_pair(service_id, url));
                }
                listener_(service_id, url, true);
              }
            } else {
              slot->successes = 0;
              if (slot->healthy && ++slot->failures >= unhealthy_after) {
                slot->healthy = false;
                slot->failures = 0;
                spdlog::warn("health check: {} of service {} is down", url, service_id);
                {
                  std::lock_guard lock(state_->down_mu);
                  state_->down_list.emplace_back(service_id, url);
                }
                listener_(service_id, url, false);
              }
            }
          });
    }
  }
  // Forget targets that left the configuration (a returning one starts healthy again).
  for (auto it = state_->targets.begin(); it != state_->targets.end();) {
    if (it->second->seen) {
      ++it;
      continue;
    }
    if (!it->second->healthy) {
      std::lock_guard lock(state_->down_mu);
      std::erase(state_->down_list, it->first);
      listener_(it->first.first, it->first.second, true);
    }
    it = state_->targets.erase(it);
  }
  state_->timer.expires_after(kTick);
  state_->timer.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

}  // namespace turnpike::proxy::upstream
