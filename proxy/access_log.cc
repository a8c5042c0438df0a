#include "proxy/access_log.h"

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <ctime>

#include "proxy/proxy_answer.h"

namespace turnpike::proxy {

namespace {

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
  out += std::to_string(value);
}

void appendSeconds(std::string_view name, std::chrono::microseconds value, std::string& out) {
  char text[32];
  std::snprintf(text, sizeof text, "%.6f", static_cast<double>(value.count()) / 1e6);
  out += ",\"";
  out += name;
  out += "\":";
  out += text;
}

}  // namespace

void appendAccessLogLine(const AccessLogEntry& entry, std::string& out) {
  using namespace std::chrono;
  const auto since_epoch = duration_cast<milliseconds>(entry.time.time_since_epoch());
  const std::time_t seconds = static_cast<std::time_t>(since_epoch.count() / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char stamp[64];
  std::snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(since_epoch.count() % 1000));
  out += "{\"time\":\"";
  out += stamp;
  out += '"';
  appendField("request_id", entry.request_id, out);
  appendField("client_ip", entry.client_ip, out);
  appendField("method", entry.method, out);
  appendField("host", entry.host, out);
  appendField("path", entry.path, out);
  appendField("route", entry.route, out);
  appendField("consumer", entry.consumer, out);
  appendNumber("status", static_cast<uint64_t>(entry.status), out);
  appendNumber("bytes", entry.bytes_sent, out);
  appendSeconds("duration_s", entry.duration, out);
  appendSeconds("upstream_s", entry.upstream_duration, out);
  appendField("target", entry.target, out);
  out += '}';
}

model::Result<std::shared_ptr<spdlog::logger>> openAccessLog(const std::string& destination) {
  try {
    spdlog::init_thread_pool(64 * 1024, 1);
    std::shared_ptr<spdlog::logger> logger;
    if (destination == "-") {
      logger = spdlog::create_async_nb<spdlog::sinks::stdout_sink_mt>("access");
    } else {
      logger =
          spdlog::create_async_nb<spdlog::sinks::basic_file_sink_mt>("access", destination, false);
    }
    logger->set_pattern("%v");
    logger->set_level(spdlog::level::info);
    logger->flush_on(spdlog::level::warn);
    spdlog::flush_every(std::chrono::seconds(1));  // a second of lines at most in memory
    return logger;
  } catch (const std::exception& e) {
    return model::Error::invalidField("access_log", e.what());
  }
}

}  // namespace turnpike::proxy
