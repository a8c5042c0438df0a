#include "proxy/worker.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/container_hash/hash.hpp>

#include "proxy/http1/session.h"

namespace turnpike::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::chrono::milliseconds kSweepInterval{100};
constexpr int kPoolSweepEvery = 10;  // sweeps: idle upstream connections are checked each second
constexpr int kForgetRoutesEvery = 600;  // sweeps: metrics of deleted routes, once a minute anyway

}  // namespace

Worker::Worker(int index, const ProxyOptions& options, SnapshotRegistry& registry,
               policy::RateLimiter& rate_limiter)
    : index_(index),
      name_("worker-" + std::to_string(index)),
      options_(options),
      context_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      acceptor_(context_),
      tls_acceptor_(context_),
      sweep_timer_(context_),
      cache_(registry, name_),
      rate_limiter_(rate_limiter),
      pool_(options.max_idle_upstream, options.upstream_idle_timeout) {
  if (options.access_log) access_log_ = std::make_unique<AccessLogBuffer>(*options.access_log);
  measureWallOffset();
}

void Worker::measureWallOffset() {
  const auto wall = std::chrono::system_clock::now().time_since_epoch();
  const auto steady = Clock::now().time_since_epoch();
  wall_offset_ = std::chrono::duration_cast<Clock::duration>(wall) - steady;
}

Worker::~Worker() {
  stop();
  join();
}

namespace {

model::Status openReusePort(tcp::acceptor& acceptor, const tcp::endpoint& endpoint) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) {
    int one = 1;
    if (::setsockopt(acceptor.native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
  }
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return model::Error::internal("cannot listen on " + endpoint.address().to_string() + ":" +
                                  std::to_string(endpoint.port()) + ": " + ec.message());
  }
  return model::Ok{};
}

uint16_t portOf(const tcp::acceptor& acceptor) {
  boost::system::error_code ec;
  auto endpoint = acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

}  // namespace

model::Status Worker::listen(const tcp::endpoint& endpoint) {
  return openReusePort(acceptor_, endpoint);
}

model::Status Worker::listenTls(const tcp::endpoint& endpoint, tls::TlsListener& tls) {
  tls_ = &tls;
  return openReusePort(tls_acceptor_, endpoint);
}

uint16_t Worker::port() const { return portOf(acceptor_); }

uint16_t Worker::tlsPort() const { return portOf(tls_acceptor_); }

void Worker::start() {
  accept(acceptor_, nullptr);
  if (tls_acceptor_.is_open()) accept(tls_acceptor_, tls_);
  sweep();
  thread_ = std::thread([this] {
    for (;;) {
      try {
        context_.run();
        if (access_log_) access_log_->flush();
        return;
      } catch (const std::exception& e) {
        // Sessions catch their own errors; anything here is a bug worth a loud line, not a crash.
        spdlog::error("{}: unexpected exception: {}", name_, e.what());
      }
    }
  });
}

void Worker::beginDrain() {
  post([this] {
    draining_.store(true, std::memory_order_relaxed);
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    tls_acceptor_.close(ignored);
    // Sessions waiting for a next request close now; the others after their current response.
    auto now = Clock::now();
    for (Deadline& deadline : deadlines_) {
      if (deadline.idle) deadline.due = now;
    }
    sweep_timer_.cancel();
  });
}

void Worker::closeAll() {
  post([this] {
    const auto now = Clock::now();
    for (Deadline& deadline : deadlines_) deadline.due = now;
  });
}

void Worker::stop() { context_.stop(); }

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::post(std::function<void()> task) { asio::post(context_, std::move(task)); }

std::shared_ptr<upstream::ServiceBalancer> Worker::balancer(const CompiledService& service,
                                                            int64_t version) {
  if (version == balancers_version_ && service.index < by_index_.size() &&
      by_index_[service.index].service == &service) {
    return by_index_[service.index].balancer;
  }
  if (version > balancers_version_) {
    // A newer snapshot: forget balancers of services it no longer has.
    balancers_version_ = version;
    by_index_.clear();
    const SnapshotConstSharedPtr& current = cache_.current();
    if (current->version() == version) {
      boost::unordered::erase_if(balancers_, [&](const auto& entry) {
        return current->findService(entry.first) == nullptr;
      });
    }
  }
  auto it = balancers_.find(std::string_view(service.id()));
  if (it == balancers_.end()) {
    it = balancers_.try_emplace(service.id()).first;
    it->second.balancer = std::make_shared<upstream::ServiceBalancer>(service);
    if (auto down = active_down_.find(std::string_view(service.id())); down != active_down_.end()) {
      for (const std::string& url : down->second) it->second.balancer->setActiveHealth(url, false);
    }
  } else if (it->second.bound != &service || it->second.version != version) {
    it->second.balancer->update(service);
  }
  it->second.bound = &service;
  it->second.version = version;
  if (version == balancers_version_) {
    if (by_index_.size() <= service.index) by_index_.resize(service.index + 1);
    by_index_[service.index] = {&service, it->second.balancer};
  } else {
    by_index_.clear();  // a request of an older snapshot rebound a balancer to its service
  }
  return it->second.balancer;
}

void Worker::setActiveHealth(const std::string& service_id, const std::string& url, bool healthy) {
  auto down = active_down_.find(std::string_view(service_id));
  if (healthy) {
    if (down != active_down_.end()) {
      std::erase(down->second, url);
      if (down->second.empty()) active_down_.erase(down);
    }
  } else {
    if (down == active_down_.end()) down = active_down_.try_emplace(service_id).first;
    if (std::find(down->second.begin(), down->second.end(), url) == down->second.end()) {
      down->second.push_back(url);
    }
  }
  if (auto it = balancers_.find(std::string_view(service_id)); it != balancers_.end()) {
    it->second.balancer->setActiveHealth(url, healthy);
  }
}

void Worker::accept(tcp::acceptor& acceptor, tls::TlsListener* tls) {
  acceptor.async_accept([this, &acceptor, tls](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // EMFILE and friends: log, breathe, and keep accepting.
      spdlog::warn("{}: accept failed: {}", name_, ec.message());
      auto pause = std::make_shared<asio::steady_timer>(context_, std::chrono::milliseconds(50));
      pause->async_wait(
          [this, pause, &acceptor, tls](boost::system::error_code) { accept(acceptor, tls); });
      return;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    asio::co_spawn(context_, http1::serveConnection(*this, std::move(socket), tls), asio::detached);
    accept(acceptor, tls);
  });
}

void Worker::forgetDeletedRoutes() {
  const SnapshotConstSharedPtr& current = cache_.current();
  // After a configuration change; and now and then, for a request of a deleted route that was
  // still in flight (on the snapshot it started with) when the change came.
  if (!current ||
      (current->buildId() == metrics_pruned_for_ && sweeps_ % kForgetRoutesEvery != 0)) {
    return;
  }
  metrics_pruned_for_ = current->buildId();
  verified_keys_.forgetUnless(*current);  // a revoked key does not linger until the next request
  metrics_.forgetRoutes(
      [&](std::string_view label) { return current->findRoute(label) != nullptr; });
}

void Worker::sweep() {
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    const auto now = Clock::now();
    measureWallOffset();
    // expire() may unlink other deadlines (a session ending); collect first.
    std::vector<Deadline*> due;
    for (Deadline& deadline : deadlines_) {
      if (deadline.due <= now) due.push_back(&deadline);
    }
    for (Deadline* deadline : due) {
      deadline->due = Clock::time_point::max();
      deadline->expire();
    }
    if (access_log_) access_log_->flush();  // a line is in the file within a sweep
    if (++sweeps_ % kPoolSweepEvery == 0) {
      pool_.sweep(now);
      forgetDeletedRoutes();
    }
    if (ec == asio::error::operation_aborted && !draining()) return;  // stop()
    sweep();
  });
}

}  // namespace turnpike::proxy
