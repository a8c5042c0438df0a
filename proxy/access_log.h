// The access log: one JSON object per line and per request, at about the cost of nginx's.
//
// Each worker appends its lines to its own AccessLogBuffer (no lock, nothing handed to another
// thread per line) and writes the buffer to the shared AccessLogSink in one write() when it
// fills, and on the worker's 100 ms sweep, so a line reaches the file within a fraction of a
// second. The sink writes one buffer at a time, so lines of different workers never interleave
// inside a line, even on a pipe. reopen() (on SIGHUP or SIGUSR1, logrotate's convention) points
// later writes at a new file of the same path; nothing buffered is lost.
//
//   auto sink = AccessLogSink::open("/var/log/turnpike/access.log");   // "-": standard output
//   AccessLogBuffer buffer(*sink);          // one per worker
//   buffer.append(entry);                   // per request, on the worker's thread
//   buffer.flush();                         // on the sweep, and before the worker exits
//   (*sink)->reopen();                      // any thread, after the file was moved away
//
// Like nginx's, a write blocks the worker while the disk or the pipe behind standard output is
// slower than the traffic; a failing write (disk full, reader gone) drops those lines, counts
// them, and the log carries on.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "model/result.h"

namespace turnpike::proxy {

struct AccessLogEntry {
  std::chrono::system_clock::time_point time;
  std::string_view request_id;
  std::string_view client_ip;
  std::string_view method;
  std::string_view host;
  std::string_view path;      // as received, without the query
  std::string_view protocol;  // "HTTP/1.1", "HTTP/1.0"
  std::string_view scheme;    // the listener: "http" or "https"
  std::string_view route;     // name or id; empty: no route matched
  std::string_view consumer;  // username; empty: anonymous
  int status = 0;
  uint64_t bytes_sent = 0;  // response body bytes sent to the client
  // Bytes the client sent through an upgraded connection's tunnel (status 101 only).
  uint64_t bytes_received = 0;
  std::chrono::microseconds duration{0};
  std::chrono::microseconds upstream_duration{0};  // 0 when no upstream was called
  std::string_view target;                         // upstream url; empty: none
};

// {"time":"2026-11-28T17:30:00.123Z","request_id":...,"status":200,...} without a newline.
void appendAccessLogLine(const AccessLogEntry& entry, std::string& out);

// Where the lines go: standard output, or a file opened for appending. One per process, shared
// by every worker. THREAD: every member may be called from any thread.
class AccessLogSink {
 public:
  // "-" is standard output; anything else a file, created when missing (mode 0640).
  static model::Result<std::unique_ptr<AccessLogSink>> open(const std::string& destination);
  ~AccessLogSink();
  AccessLogSink(const AccessLogSink&) = delete;
  AccessLogSink& operator=(const AccessLogSink&) = delete;

  // Writes `lines` (whole lines, each ending in '\n') in one piece: no other write lands
  // inside it. Retries short writes; on an error the rest is dropped and counted.
  void write(std::string_view lines);

  // Opens the file's path again, so that later writes go to the file now there (logrotate
  // moved the old one away); a write in progress finishes in the old file. Standard output:
  // nothing to do. On failure the log keeps its current file.
  model::Status reopen();

  const std::string& destination() const { return destination_; }
  // Bytes of lines that could not be written.
  uint64_t droppedBytes() const { return dropped_bytes_.load(std::memory_order_relaxed); }

 private:
  AccessLogSink(std::string destination, int fd, bool owns_fd);

  const std::string destination_;
  std::mutex write_mutex_;  // one buffer at a time; held for the write() calls only
  const int fd_;            // reopen() swaps the file behind it (dup2), never the number
  const bool owns_fd_;
  std::atomic<uint64_t> dropped_bytes_{0};
};

// One worker's lines. THREAD: the owning worker's thread only.
class AccessLogBuffer {
 public:
  // Lines are written once this many bytes are buffered.
  static constexpr std::size_t kFlushBytes = 32 * 1024;

  explicit AccessLogBuffer(AccessLogSink& sink);
  ~AccessLogBuffer();  // flushes
  AccessLogBuffer(const AccessLogBuffer&) = delete;
  AccessLogBuffer& operator=(const AccessLogBuffer&) = delete;

  // Adds the entry's line; writes the buffer when it holds kFlushBytes or more.
  void append(const AccessLogEntry& entry);
  // Writes whatever is buffered.
  void flush();
  std::size_t buffered() const { return buffer_.size(); }

 private:
  AccessLogSink& sink_;
  std::string buffer_;
};

}  // namespace turnpike::proxy
