// ProxyServer: the data plane's front. Starts N workers on one port (each its own io_context and
// SO_REUSEPORT acceptor), nudges them when a snapshot is published, drains them on shutdown and
// gathers their metrics.
//
//   SnapshotRegistry registry;
//   ProxyServer proxy(registry, options);     // before anything publishes (sets the listener)
//   if (auto started = proxy.start(); !started) fail(started.error().message);
//   ... proxy.port() ...
//   proxy.stop();                             // drains: in-flight requests finish (bounded)
//
// THREAD: start/stop/port from the control thread; metricsText() from any thread (it asks each
// worker on its own thread and waits, bounded).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "model/result.h"
#include "proxy/policy/rate_limiter.h"
#include "proxy/proxy_options.h"
#include "proxy/snapshot_registry.h"

namespace turnpike::proxy {

class Worker;
namespace tls {
class TlsListener;
}
namespace upstream {
class HealthChecker;
}

class ProxyServer {
 public:
  ProxyServer(SnapshotRegistry& registry, ProxyOptions options);
  ~ProxyServer();
  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Binds every worker to options.host:options.port (and options.tls_host:tls_port when
  // options.tls) and starts their threads. Fails (nothing
  // started) when the address is taken: the port is probed without SO_REUSEPORT first, so that
  // a stale process cannot silently share it.
  [[nodiscard]] model::Status start();

  // The bound port (useful with port 0).
  uint16_t port() const { return port_; }
  // The TLS listener's bound port; 0 without one.
  uint16_t tlsPort() const { return options_.tls ? options_.tls_port : 0; }

  // Stops accepting, lets in-flight requests finish for at most options.drain_timeout, then
  // closes every connection and joins the workers. Idempotent.
  void stop();

  // Prometheus text of every worker's counters and histograms, summed, plus open connections
  // and the targets active health checks hold down.
  std::string metricsText() const;

  int openConnections() const;

 private:
  SnapshotRegistry& registry_;
  ProxyOptions options_;
  // Counters outlive snapshots (keyed by policy id); declared before the workers that use it.
  policy::RateLimiter rate_limiter_;
  std::unique_ptr<tls::TlsListener> tls_;  // before the workers, which use it
  std::vector<std::unique_ptr<Worker>> workers_;
  std::unique_ptr<upstream::HealthChecker> health_checker_;
  uint16_t port_ = 0;
  bool started_ = false;
};

}  // namespace turnpike::proxy
