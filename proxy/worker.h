// Worker: one proxy thread. It owns an io_context, an SO_REUSEPORT acceptor on the proxy port,
// its SnapshotCache, its upstream connection pool, its balancers and its metrics. A connection
// is accepted, served and closed on one worker; nothing a worker owns is touched by another
// thread except through post() (DESIGN.md: "no lock on the request path").
//
//   Worker w(0, options, registry);
//   w.listen(endpoint);       // on the control thread, before start()
//   w.start();                // spawns the thread
//   w.post([&] { ... });      // run something on the worker's thread
//   w.beginDrain(); ...; w.stop(); w.join();
//
// Timeouts: every client session (http1/session.h) registers a deadline with its worker; a 100 ms
// sweep cancels the sockets of sessions whose deadline passed (cheaper than a timer per I/O
// operation: no timer syscalls on the request path; timeouts fire within ~100 ms of their due
// time).
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/intrusive/list.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "model/result.h"
#include "proxy/access_log.h"
#include "proxy/policy/key_auth.h"
#include "proxy/policy/rate_limiter.h"
#include "proxy/proxy_metrics.h"
#include "proxy/proxy_options.h"
#include "proxy/request_id.h"
#include "proxy/snapshot_registry.h"
#include "proxy/string_map.h"
#include "proxy/upstream/connection_pool.h"
#include "proxy/upstream/service_balancer.h"

namespace turnpike::proxy {

namespace tls {
class TlsListener;
}

// What a session exposes to its worker's deadline sweep. Lives inside the session.
class Deadline : public boost::intrusive::list_base_hook<
                     boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~Deadline() = default;
  // Called by the sweep on the worker thread when `due` has passed.
  virtual void expire() = 0;
  Clock::time_point due = Clock::time_point::max();
  bool idle = false;  // waiting for the next request: closed at once when the worker drains
};

class Worker {
 public:
  using Clock = std::chrono::steady_clock;

  Worker(int index, const ProxyOptions& options, SnapshotRegistry& registry,
         policy::RateLimiter& rate_limiter);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Opens the acceptor (SO_REUSEPORT, so every worker can listen on the same port). Control
  // thread, before start().
  model::Status listen(const boost::asio::ip::tcp::endpoint& endpoint);
  // The same for the TLS listener, whose connections start with a handshake from `tls` (which
  // must outlive the worker).
  model::Status listenTls(const boost::asio::ip::tcp::endpoint& endpoint, tls::TlsListener& tls);
  uint16_t port() const;
  uint16_t tlsPort() const;

  void start();
  // Stops accepting; sessions finish their current request and close (keep-alive ends).
  void beginDrain();
  // At the drain's deadline: every connection still open (a request in flight, a tunnel) is
  // cut at the next sweep, so that each ends its own way (an access log line for a tunnel).
  void closeAll();
  // Stops the io_context: every remaining connection is dropped.
  void stop();
  void join();

  // Runs `task` on the worker's thread.
  void post(std::function<void()> task);

  // An active health check's verdict on `url` of service `service_id` (worker thread: post it).
  // Kept for balancers made later.
  void setActiveHealth(const std::string& service_id, const std::string& url, bool healthy);

  // The number of client connections open now (any thread; for drain and /status).
  int openConnections() const { return open_connections_.load(std::memory_order_relaxed); }

  // --- for the client sessions (http1/session.h), on the worker's thread only ---
  int index() const { return index_; }
  const std::string& name() const { return name_; }
  const ProxyOptions& options() const { return options_; }
  boost::asio::io_context& context() { return context_; }
  const SnapshotConstSharedPtr& snapshot() { return cache_.current(); }
  upstream::ConnectionPool& pool() { return pool_; }
  // The balancer of `service` (made or rebound on first use for this snapshot).
  // Shared so that a request keeps it even if a newer snapshot drops the service meanwhile.
  std::shared_ptr<upstream::ServiceBalancer> balancer(const CompiledService& service,
                                                      int64_t version);
  ProxyMetrics& metrics() { return metrics_; }
  // Shared by every worker of the process (thread-safe): limits are per process.
  policy::RateLimiter& rateLimiter() { return rate_limiter_; }
  RequestIdGenerator& requestIds() { return request_ids_; }
  // Keys this worker found in its current snapshot (skips their SHA-256).
  policy::VerifiedKeys& verifiedKeys() { return verified_keys_; }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  void track(Deadline& deadline) { deadlines_.push_back(deadline); }
  void connectionOpened() { open_connections_.fetch_add(1, std::memory_order_relaxed); }
  void connectionClosed() { open_connections_.fetch_sub(1, std::memory_order_relaxed); }
  // This worker's access log lines (null: no access log), written out on each sweep.
  AccessLogBuffer* accessLog() { return access_log_.get(); }
  // The wall-clock time of a steady_clock time point, by the offset between the two clocks that
  // each sweep (every 100 ms) measures again: a system_clock read per request would cost as much
  // as a steady_clock one (coarse_clock.h). A step of the system clock shows within a sweep.
  // Worker thread.
  std::chrono::system_clock::time_point wallTime(Clock::time_point t) const {
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(t.time_since_epoch() +
                                                                        wall_offset_));
  }

 private:
  struct BalancerSlot {
    std::shared_ptr<upstream::ServiceBalancer> balancer;
    const CompiledService* bound = nullptr;
    int64_t version = -1;
  };

  void accept(boost::asio::ip::tcp::acceptor& acceptor, tls::TlsListener* tls);
  void sweep();
  void measureWallOffset();
  // Drops the metrics of routes the current snapshot no longer has.
  void forgetDeletedRoutes();

  const int index_;
  const std::string name_;
  const ProxyOptions& options_;
  // Run by the worker's thread alone, and its sockets are used by that thread alone (before
  // start() and after join() by the control thread): Asio's per-socket locks are off
  // (BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO). post() from other threads stays safe.
  boost::asio::io_context context_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::acceptor tls_acceptor_;  // open only with a TLS listener
  tls::TlsListener* tls_ = nullptr;
  boost::asio::steady_timer sweep_timer_;
  SnapshotCache cache_;
  policy::RateLimiter& rate_limiter_;
  upstream::ConnectionPool pool_;
  StringMap<BalancerSlot> balancers_;
  int64_t balancers_version_ = -1;
  // The balancers bound to the services of snapshot version balancers_version_, by
  // CompiledService::index: found without hashing the service id.
  struct BoundBalancer {
    const CompiledService* service = nullptr;
    std::shared_ptr<upstream::ServiceBalancer> balancer;
  };
  std::vector<BoundBalancer> by_index_;
  // Targets the active health checker marked down: service id -> urls.
  StringMap<std::vector<std::string>> active_down_;
  ProxyMetrics metrics_;
  uint64_t metrics_pruned_for_ = 0;  // buildId() of the snapshot metrics_ last forgot routes for
  RequestIdGenerator request_ids_;
  policy::VerifiedKeys verified_keys_;
  boost::intrusive::list<Deadline, boost::intrusive::constant_time_size<false>> deadlines_;
  std::unique_ptr<AccessLogBuffer> access_log_;
  uint64_t sweeps_ = 0;
  Clock::duration wall_offset_{};  // system_clock's time since its epoch minus steady_clock's
  std::atomic<bool> draining_{false};
  std::atomic<int> open_connections_{0};
  std::thread thread_;
};

}  // namespace turnpike::proxy
