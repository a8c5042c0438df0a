// ProxyOptions: how the data plane listens and what it tolerates from clients and upstreams.
// Filled by app/ from the command line (`turnpike serve --help` lists the flags).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace turnpike::proxy {

class AccessLogSink;

struct ProxyOptions {
  std::string host = "0.0.0.0";
  uint16_t port = 8000;  // 0: any free port (ProxyServer::port() tells which)
  int workers = 1;       // threads, each with its own io_context and SO_REUSEPORT acceptor
  // The TLS listener, beside the plain one on the same workers (tls_port 0: any free port,
  // ProxyServer::tlsPort() tells which).
  bool tls = false;
  std::string tls_host = "0.0.0.0";
  uint16_t tls_port = 8443;
  bool tls_reject_unknown_sni = false;  // no certificate for the SNI: refuse, not self-signed
  std::chrono::seconds tls_ticket_key_rotation{3600};

  // Client side.
  std::size_t max_header_bytes = 32 * 1024;             // request line + headers; over: 431
  uint64_t max_body_bytes = 1024ull * 1024 * 1024;      // request body; over: 413; 0: no limit
  std::chrono::milliseconds header_timeout{10'000};     // first byte to end of headers: 408
  std::chrono::milliseconds idle_timeout{60'000};       // keep-alive wait between requests
  std::chrono::milliseconds client_io_timeout{60'000};  // a stalled body read or write
  std::chrono::milliseconds drain_timeout{10'000};      // in-flight requests on shutdown

  // Upstream side (per worker, per target).
  std::size_t max_idle_upstream = 128;  // idle keep-alive connections kept
  std::chrono::milliseconds upstream_idle_timeout{30'000};

  // One JSON line per request (access_log.h); null: no access log.
  std::shared_ptr<AccessLogSink> access_log;
};

}  // namespace turnpike::proxy
