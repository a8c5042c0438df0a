#include "proxy/access_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "proxy/proxy_answer.h"

namespace turnpike::proxy {

namespace {

void appendUnsigned(uint64_t value, std::string& out) {
  char text[24];
  auto [end, ec] = std::to_chars(text, text + sizeof text, value);
  out.append(text, end);
}

void appendField(std::string_view name, std::string_view value, std::string& out) {
  out += ",\"";
  out += name;
  out += "\":\"";
  appendJsonEscaped(value, out);
  out += '"';
}

void appendNumber(std::string_view name, uint64_t value, std::string& out) {
  out += ",\"";
  out += name;
  out += "\":";
  appendUnsigned(value, out);
}

// Seconds with six decimals ("0.001500"), from whole microseconds: no floating point.
void appendSeconds(std::string_view name, std::chrono::microseconds value, std::string& out) {
  const uint64_t micros = value.count() > 0 ? static_cast<uint64_t>(value.count()) : 0;
  out += ",\"";
  out += name;
  out += "\":";
  appendUnsigned(micros / 1'000'000, out);
  char fraction[8] = {'.'};
  uint64_t rest = micros % 1'000'000;
  for (int i = 6; i >= 1; --i) {
    fraction[i] = static_cast<char>('0' + rest % 10);
    rest /= 10;
  }
  out.append(fraction, 7);
}

// "2026-11-28T17:30:00" of the second `seconds`, formatted once per second and thread.
std::string_view secondStamp(std::time_t seconds) {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[80];  // room for any int fields, as -Wformat-truncation asks
  if (seconds != cached_second) {
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    std::snprintf(cached, sizeof cached, "%04d-%02d-%02dT%02d:%02d:%02d", utc.tm_year + 1900,
                  utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
    cached_second = seconds;
  }
  return cached;
}

}  // namespace

void appendAccessLogLine(const AccessLogEntry& entry, std::string& out) {
  using namespace std::chrono;
  const int64_t millis = duration_cast<milliseconds>(entry.time.time_since_epoch()).count();
  const int64_t whole = millis >= 0 ? millis / 1000 : (millis - 999) / 1000;
  const int64_t ms = millis - whole * 1000;
  out += "{\"time\":\"";
  out += secondStamp(static_cast<std::time_t>(whole));
  const char fraction[] = {'.',
                           static_cast<char>('0' + ms / 100),
                           static_cast<char>('0' + ms / 10 % 10),
                           static_cast<char>('0' + ms % 10),
                           'Z',
                           '"'};
  out.append(fraction, sizeof fraction);
  appendField("request_id", entry.request_id, out);
  appendField("client_ip", entry.client_ip, out);
  appendField("method", entry.method, out);
  appendField("host", entry.host, out);
  appendField("path", entry.path, out);
  appendField("protocol", entry.protocol, out);
  appendField("scheme", entry.scheme, out);
  appendField("route", entry.route, out);
  appendField("consumer", entry.consumer, out);
  appendNumber("status", static_cast<uint64_t>(entry.status), out);
  appendNumber("bytes", entry.bytes_sent, out);
  // A tunnel's line (written when it closes) says what went each way.
  if (entry.status == 101) appendNumber("bytes_received", entry.bytes_received, out);
  appendSeconds("duration_s", entry.duration, out);
  appendSeconds("upstream_s", entry.upstream_duration, out);
  appendField("target", entry.target, out);
  out += '}';
}

// ---- AccessLogSink

namespace {

int openForAppend(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

}  // namespace

model::Result<std::unique_ptr<AccessLogSink>> AccessLogSink::open(const std::string& destination) {
  if (destination == "-") {
    return std::unique_ptr<AccessLogSink>(new AccessLogSink(destination, STDOUT_FILENO, false));
  }
  if (destination.empty()) return model::Error::invalidField("access_log", "must not be empty");
  const int fd = openForAppend(destination);
  if (fd < 0) {
    return model::Error::invalidField("access_log",
                                      "cannot open " + destination + ": " + std::strerror(errno));
  }
  return std::unique_ptr<AccessLogSink>(new AccessLogSink(destination, fd, true));
}

AccessLogSink::AccessLogSink(std::string destination, int fd, bool owns_fd)
    : destination_(std::move(destination)), fd_(fd), owns_fd_(owns_fd) {}

AccessLogSink::~AccessLogSink() {
  if (owns_fd_) ::close(fd_);
}

void AccessLogSink::write(std::string_view lines) {
  std::lock_guard lock(write_mutex_);
  while (!lines.empty()) {
    const ssize_t n = ::write(fd_, lines.data(), lines.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      dropped_bytes_.fetch_add(lines.size(), std::memory_order_relaxed);
      return;
    }
    lines.remove_prefix(static_cast<std::size_t>(n));
  }
}

model::Status AccessLogSink::reopen() {
  if (!owns_fd_) return model::Ok{};
  const int fresh = openForAppend(destination_);
  if (fresh < 0) {
    return model::Error::internal("cannot reopen " + destination_ + ": " + std::strerror(errno));
  }
  // dup2 swaps the open file behind fd_ in one step: every write() lands wholly in the old
  // file or wholly in the new one.
  const int swapped = ::dup2(fresh, fd_);
  const int saved_errno = errno;
  ::close(fresh);
  if (swapped < 0) {
    return model::Error::internal("cannot reopen " + destination_ + ": " +
                                  std::strerror(saved_errno));
  }
  return model::Ok{};
}

// ---- AccessLogBuffer

AccessLogBuffer::AccessLogBuffer(AccessLogSink& sink) : sink_(sink) {
  buffer_.reserve(kFlushBytes + 4096);
}

AccessLogBuffer::~AccessLogBuffer() { flush(); }

void AccessLogBuffer::append(const AccessLogEntry& entry) {
  appendAccessLogLine(entry, buffer_);
  buffer_ += '\n';
  if (buffer_.size() >= kFlushBytes) flush();
}

void AccessLogBuffer::flush() {
  if (buffer_.empty()) return;
  sink_.write(buffer_);
  buffer_.clear();
}

}  // namespace turnpike::proxy
