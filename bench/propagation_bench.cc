// Scenario 7 of scripts/bench: how long an admin write takes to reach the proxy, against
// DESIGN.md's budget ("an admin write is enforced by every worker within 50 ms at p99").
//
//   propagation_bench --admin 127.0.0.1:PORT --proxy 127.0.0.1:PORT --service NAME
//                     [--token T] [--writes 200] [--gap-ms 0] [--connections 8]
//                     [--timeout-ms 5000]
//
// A running `turnpike serve` is needed, with a service NAME whose upstream answers 2xx on any
// path. Each of the writes (without ?wait_for_proxy) makes a path that the proxy answered 404
// answer 2xx: even writes create a route for a new path, odd writes move the route just created
// to a new path (PATCH). From the moment the write's 2xx has been read, the proxy is polled
// tightly (one GET after the other, no sleep) on `connections` kept-alive connections, until
// each of them has seen the new path answered by the upstream. The next write follows at once
// (--gap-ms 0: a burst, which Turnpike's ConfigSync coalesces by spacing builds up to 40 ms
// apart) or after a pause (--gap-ms 100: isolated writes, each built as soon as it arrives).
// The routes created are deleted at the end.
//
//   first_seen_ms  write acknowledged -> the first proxy request that sees the change
//   all_seen_ms    write acknowledged -> every connection has seen it. Connections are spread
//                  over the proxy's workers by the kernel (SO_REUSEPORT); with 8 connections
//                  and 2 workers the chance that a worker has none is 2 * 2^-8 < 1%.
//   write_ms       the admin write itself (request sent -> 2xx read; SQLite fsync included)
//
// Prints one JSON object on standard output; the exit status is 1 when a write failed or a
// change was not seen within --timeout-ms.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/http_client.h"

namespace {

using nlohmann::json;
using turnpike::test_support::HttpClient;
using turnpike::test_support::Response;
using Clock = std::chrono::steady_clock;

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

bool parseHostPort(const std::string& text, HostPort* out) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  int port = std::atoi(text.c_str() + colon + 1);
  if (port <= 0 || port > 65535) return false;
  out->host = text.substr(0, colon);
  out->port = static_cast<uint16_t>(port);
  return true;
}

double msSince(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// Nearest-rank percentile of sorted values (p in 0..100).
double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  auto rank = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

json summary(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (double v : values) sum += v;
  auto round3 = [](double v) { return std::round(v * 1000) / 1000; };
  return {{"count", values.size()},
          {"p50", round3(percentile(values, 50))},
          {"p90", round3(percentile(values, 90))},
          {"p99", round3(percentile(values, 99))},
          {"max", round3(values.empty() ? 0 : values.back())},
          {"mean", round3(values.empty() ? 0 : sum / static_cast<double>(values.size()))}};
}

}  // namespace

int main(int argc, char** argv) {
  std::string admin_address;
  std::string proxy_address;
  std::string service;
  const char* env_token = std::getenv("TURNPIKE_ADMIN_TOKEN");
  std::string token = env_token ? env_token : "";
  int writes = 200;
  int gap_ms = 0;
  int connections = 8;
  int timeout_ms = 5000;

  CLI::App app{"Admin write -> proxy propagation latency (scripts/bench scenario 7)",
               "propagation_bench"};
  app.add_option("--admin", admin_address, "Admin API HOST:PORT")->required();
  app.add_option("--proxy", proxy_address, "Proxy HOST:PORT")->required();
  app.add_option("--service", service, "Existing service whose upstream answers 2xx")->required();
  app.add_option("--token", token, "Admin token (default: $TURNPIKE_ADMIN_TOKEN)");
  app.add_option("--writes", writes, "Admin writes to time")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  app.add_option("--gap-ms", gap_ms, "Pause after a write has been seen, before the next")
      ->check(CLI::Range(0, 60000))
      ->capture_default_str();
  app.add_option("--connections", connections, "Kept-alive proxy connections polled")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--timeout-ms", timeout_ms, "Give up on a write not seen after this long")
      ->check(CLI::Range(1, 600000))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  HostPort admin_hp;
  HostPort proxy_hp;
  if (!parseHostPort(admin_address, &admin_hp) || !parseHostPort(proxy_address, &proxy_hp)) {
    std::fprintf(stderr, "--admin and --proxy must be HOST:PORT\n");
    return 2;
  }

  HttpClient admin(admin_hp.host, admin_hp.port);
  admin.setBearer(token);
  Response svc = admin.get("/services/" + service);
  if (svc.status != 200) {
    std::fprintf(stderr, "GET /services/%s answered %d %s\n", service.c_str(), svc.status,
                 svc.error.c_str());
    return 1;
  }

  std::vector<HttpClient> proxies;
  proxies.reserve(static_cast<std::size_t>(connections));
  for (int c = 0; c < connections; ++c) {
    proxies.emplace_back(proxy_hp.host, proxy_hp.port, std::chrono::seconds(5));
  }

  // Unique per run, so that runs against one database never collide.
  const std::string run = "prop-" + std::to_string(getpid()) + "-" +
                          std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
  std::vector<double> first_seen;
  std::vector<double> all_seen;
  std::vector<double> write_ms;
  long polls = 0;
  int failures = 0;
  std::string current_route;  // the route the next odd write moves
  std::vector<std::string> created;
  std::string first_error;

  for (int i = 0; i < writes; ++i) {
    if (i > 0 && gap_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    const std::string path = "/" + run + "/" + std::to_string(i);
    // Before the write: every connection sees the path unrouted (and is connected, so that
    // connecting is not timed).
    for (HttpClient& proxy : proxies) {
      Response before = proxy.get(path);
      if (before.status != 404) {
        std::fprintf(stderr, "GET %s answered %d before the write, expected 404 %s\n", path.c_str(),
                     before.status, before.error.c_str());
        return 1;
      }
    }

    Response written;
    const auto sent = Clock::now();
    if (i % 2 == 0) {
      current_route = run + "-" + std::to_string(i);
      created.push_back(current_route);
      written = admin.post("/routes", {{"name", current_route},
                                       {"service", service},
                                       {"paths", {path}},
                                       {"strip_path", false}});
    } else {
      written = admin.patch("/routes/" + current_route, {{"paths", {path}}});
    }
    const auto acknowledged = Clock::now();
    if (written.status < 200 || written.status > 299) {
      std::fprintf(stderr, "write %d answered %d %s %s\n", i, written.status, written.error.c_str(),
                   written.body.substr(0, 300).c_str());
      return 1;
    }
    write_ms.push_back(msSince(sent, acknowledged));

    // Poll every connection that has not seen the change yet, round robin, without pausing.
    std::vector<bool> seen(proxies.size(), false);
    std::size_t seen_count = 0;
    bool first = true;
    while (seen_count < proxies.size()) {
      if (msSince(acknowledged, Clock::now()) > timeout_ms) break;
      for (std::size_t c = 0; c < proxies.size(); ++c) {
        if (seen[c]) continue;
        Response r = proxies[c].get(path);
        ++polls;
        const auto now = Clock::now();
        if (r.status >= 200 && r.status <= 299) {
          seen[c] = true;
          ++seen_count;
          if (first) {
            first_seen.push_back(msSince(acknowledged, now));
            first = false;
          }
          if (seen_count == proxies.size()) all_seen.push_back(msSince(acknowledged, now));
        } else if (r.status != 404 && first_error.empty()) {
          first_error = "GET " + path + " answered " + std::to_string(r.status) + " " + r.error;
        }
      }
    }
    if (seen_count < proxies.size()) {
      ++failures;
      std::fprintf(stderr, "write %d: %zu of %zu connections saw %s within %d ms\n", i, seen_count,
                   proxies.size(), path.c_str(), timeout_ms);
    }
  }

  // Leave the configuration as it was (later scenarios share this Turnpike).
  for (const std::string& name : created) {
    Response deleted = admin.del("/routes/" + name);
    if (deleted.status != 204 && deleted.status != 200) {
      std::fprintf(stderr, "DELETE /routes/%s answered %d\n", name.c_str(), deleted.status);
    }
  }

  json out = {{"writes", writes},
              {"gap_ms", gap_ms},
              {"connections", connections},
              {"failures", failures},
              {"polls_per_write", static_cast<double>(polls) / writes},
              {"first_seen_ms", summary(first_seen)},
              {"all_seen_ms", summary(all_seen)},
              {"write_ms", summary(write_ms)}};
  if (!first_error.empty()) out["unexpected_answer"] = first_error;
  std::printf("%s\n", out.dump().c_str());
  return failures == 0 ? 0 : 1;
}
