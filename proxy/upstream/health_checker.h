// HealthChecker: active health checks. For every service with a `health_check`, each target is
// probed with `GET <path>` every `interval_ms`; `unhealthy_after` failed probes in a row mark it
// down, `healthy_after` good ones (2xx or 3xx) bring it back. Transitions are reported through
// a callback (ProxyServer posts them to every worker, whose balancers stop or resume sending
// traffic: no shared state on the request path).
//
//   HealthChecker checker(registry, [&](const std::string& service_id, const std::string& url,
//                                       bool healthy) { ... });
//   checker.start();   // own thread; follows the published snapshots
//   checker.stop();
//
// A probe has the service's connect timeout to connect and min(read_timeout, interval) to
// answer; a new connection per probe (so a probe also checks that connecting works). Targets
// start healthy. State is keyed by (service id, target url): a config change that keeps them
// keeps their state; a target that leaves the config is forgotten.
//
// THREAD: start/stop from the control thread; the callback runs on the checker's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "proxy/snapshot_registry.h"

namespace turnpike::proxy::upstream {

class HealthChecker {
 public:
  using Listener =
      std::function<void(const std::string& service_id, const std::string& url, bool healthy)>;

  HealthChecker(SnapshotRegistry& registry, Listener listener);
  ~HealthChecker();
  HealthChecker(const HealthChecker&) = delete;
  HealthChecker& operator=(const HealthChecker&) = delete;

  void start();
  void stop();

  // (service id, url) pairs marked down right now (any thread; for /status and metrics).
  std::vector<std::pair<std::string, std::string>> down() const;

 private:
  struct State;
  struct TargetState;

  void tick();

  SnapshotRegistry& registry_;
  Listener listener_;
  boost::asio::io_context context_;
  std::unique_ptr<State> state_;
  std::thread thread_;
};

}  // namespace turnpike::proxy::upstream
