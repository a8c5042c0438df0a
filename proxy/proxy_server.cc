#include "proxy/proxy_server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/tcp.hpp>
#include <future>
#include <thread>

#include "proxy/tls/tls_listener.h"
#include "proxy/upstream/health_checker.h"
#include "proxy/worker.h"

namespace turnpike::proxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::chrono::seconds kMetricsWait{2};
// How long connections cut at the drain deadline get to end their own way (a sweep or two).
constexpr std::chrono::milliseconds kCloseGrace{500};

// True when nobody listens on the endpoint: a bind without SO_REUSEPORT succeeds.
model::Status probePort(const tcp::endpoint& endpoint) {
  asio::io_context context;
  tcp::acceptor probe(context);
  boost::system::error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec) {
    return model::Error::internal("cannot listen on " + endpoint.address().to_string() + ":" +
                                  std::to_string(endpoint.port()) + ": " + ec.message());
  }
  return model::Ok{};
}

}  // namespace

ProxyServer::ProxyServer(SnapshotRegistry& registry, ProxyOptions options)
    : registry_(registry), options_(std::move(options)) {
  if (options_.workers < 1) options_.workers = 1;
  for (int i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<Worker>(i, options_, registry_, rate_limiter_));
  }
  // A publish makes every worker look at the new snapshot at once, so that /status and
  // ?wait_for_proxy=true do not wait for traffic to arrive.
  health_checker_ = std::make_unique<upstream::HealthChecker>(
      registry_, [this](const std::string& service_id, const std::string& url, bool healthy) {
        for (auto& worker : workers_) {
          Worker* w = worker.get();
          w->post([w, service_id, url, healthy] { w->setActiveHealth(service_id, url, healthy); });
        }
      });
  registry_.setPublishListener([this](int64_t) {
    for (auto& worker : workers_) {
      Worker* w = worker.get();
      w->post([w] { (void)w->snapshot(); });
    }
  });
}

ProxyServer::~ProxyServer() {
  stop();
  registry_.setPublishListener(nullptr);
}

model::Status ProxyServer::start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return model::Error::invalidField("proxy_listen", "not an IP address: " + options_.host);
  tcp::endpoint endpoint(address, options_.port);
  if (options_.port != 0) {
    if (auto free = probePort(endpoint); !free) return free;
  }
  for (auto& worker : workers_) {
    if (auto listening = worker->listen(endpoint); !listening) return listening;
    // Port 0: the first worker picks the port, the others join it.
    if (endpoint.port() == 0) endpoint.port(worker->port());
  }
  port_ = endpoint.port();
  if (options_.tls) {
    const auto tls_address = asio::ip::make_address(options_.tls_host, ec);
    if (ec) {
      return model::Error::invalidField("proxy_listen_tls",
                                        "not an IP address: " + options_.tls_host);
    }
    auto listener =
        tls::TlsListener::make({.reject_unknown_sni = options_.tls_reject_unknown_sni,
                                .ticket_key_rotation = options_.tls_ticket_key_rotation});
    if (!listener) return listener.error();
    tls_ = std::move(*listener);
    tcp::endpoint tls_endpoint(tls_address, options_.tls_port);
    if (options_.tls_port != 0) {
      if (auto free = probePort(tls_endpoint); !free) return free;
    }
    for (auto& worker : workers_) {
      if (auto listening = worker->listenTls(tls_endpoint, *tls_); !listening) return listening;
      if (tls_endpoint.port() == 0) tls_endpoint.port(worker->tlsPort());
    }
    // Workers read it (308 redirects name the port); they have not started yet.
    options_.tls_port = tls_endpoint.port();
  }
  for (auto& worker : workers_) worker->start();
  health_checker_->start();
  started_ = true;
  return model::Ok{};
}

void ProxyServer::stop() {
  if (!started_) return;
  started_ = false;
  health_checker_->stop();
  for (auto& worker : workers_) worker->beginDrain();
  const auto deadline = std::chrono::steady_clock::now() + options_.drain_timeout;
  while (openConnections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (int left = openConnections(); left > 0) {
    spdlog::warn("proxy: {} connection(s) still open after the drain timeout; closing them", left);
    // Cut by their workers first, so that each one ends as it would on a timeout (tunnels
    // write their access log line); what is still open a moment later is dropped with the loop.
    for (auto& worker : workers_) worker->closeAll();
    const auto grace = std::chrono::steady_clock::now() + kCloseGrace;
    while (openConnections() > 0 && std::chrono::steady_clock::now() < grace) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  for (auto& worker : workers_) worker->stop();
  for (auto& worker : workers_) worker->join();
}

int ProxyServer::openConnections() const {
  int total = 0;
  for (const auto& worker : workers_) total += worker->openConnections();
  return total;
}

std::string ProxyServer::metricsText() const {
  ProxyMetrics sum;
  for (const auto& worker : workers_) {
    auto copy = std::make_shared<std::promise<ProxyMetrics>>();
    auto future = copy->get_future();
    Worker* w = worker.get();
    w->post([w, copy] { copy->set_value(w->metrics()); });
    if (future.wait_for(kMetricsWait) == std::future_status::ready) sum.merge(future.get());
  }
  std::string out;
  sum.render(out);
  out += "# HELP turnpike_proxy_open_connections Client connections open now.\n";
  out += "# TYPE turnpike_proxy_open_connections gauge\n";
  out += "turnpike_proxy_open_connections " + std::to_string(openConnections()) + "\n";
  out += "# HELP turnpike_upstream_target_down Targets that active health checks hold down.\n";
  out += "# TYPE turnpike_upstream_target_down gauge\n";
  for (const auto& [service_id, url] : health_checker_->down()) {
    out +=
        "turnpike_upstream_target_down{service=\"" + service_id + "\",target=\"" + url + "\"} 1\n";
  }
  return out;
}

}  // namespace turnpike::proxy
