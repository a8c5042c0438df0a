// The access log: one JSON object per line and per request, written through an asynchronous
// spdlog logger so that a slow disk or a full pipe never stalls a worker (when the queue is full
// the oldest lines are dropped, and the drop count is visible in spdlog's thread pool).
//
//   auto log = openAccessLog("-");            // stdout; a path appends to that file
//   AccessLogEntry entry{...};
//   std::string line; appendAccessLogLine(entry, line); log->info(line);
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "model/result.h"

namespace spdlog {
class logger;
}

namespace turnpike::proxy {

struct AccessLogEntry {
  std::chrono::system_clock::time_point time;
  std::string_view request_id;
  std::string_view client_ip;
  std::string_view method;
  std::string_view host;
  std::string_view path;      // as received, without the query
  std::string_view route;     // name or id; empty: no route matched
  std::string_view consumer;  // username; empty: anonymous
  int status = 0;
  uint64_t bytes_sent = 0;  // response body bytes sent to the client
  std::chrono::microseconds duration{0};
  std::chrono::microseconds upstream_duration{0};  // 0 when no upstream was called
  std::string_view target;                         // upstream url; empty: none
};

// {"time":"2026-11-28T17:30:00.123Z","request_id":...,"status":200,...}
void appendAccessLogLine(const AccessLogEntry& entry, std::string& out);

// "-" is standard output; anything else a file opened for appending. One logger per process.
model::Result<std::shared_ptr<spdlog::logger>> openAccessLog(const std::string& destination);

}  // namespace turnpike::proxy
