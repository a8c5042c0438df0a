// AdminServer: serves an AdminApi over HTTP/1.1 with Pistache.
//
// Works around Debian Pistache 0.0.5: answers keep-alive properly (0.0.5 says
// `Connection: close` to a plain HTTP/1.1 request while keeping the socket), raises
// maxRequestSize to the API's 1 MiB body limit (413 beyond), and keeps handlers short.
//
//   AdminServer server(api, "127.0.0.1", 8001, 2);
//   server.start();            // returns once listening; port() tells the bound port
//   ... server.stop();
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "model/result.h"

namespace turnpike::admin {

class AdminApi;

class AdminServer {
 public:
  AdminServer(const AdminApi& api, std::string host, uint16_t port, int threads);
  ~AdminServer();

  model::Status start();  // binds and serves on background threads
  void stop();
  uint16_t port() const;  // the bound port (useful with port 0)

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace turnpike::admin
