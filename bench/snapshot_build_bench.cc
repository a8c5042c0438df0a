// Micro-benchmark for the routing snapshot against DESIGN.md's budget: a 100,000-route snapshot
// builds in under 250 ms and stays under 2 KB per route; matching does not grow with the number
// of routes (10 vs 10,000).
//
//   snapshot_build_bench [routes=100000]
//
// Times are the thread's CPU time (CLOCK_THREAD_CPUTIME_ID), so that other processes sharing the
// cores disturb them less than wall time, and the build from a moved config is the median of
// kBuildRepeats builds (the copying build is timed once); memory is the growth of malloc's in-use
// bytes (mallinfo2) while the snapshot is alive, config copy included.
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "proxy/snapshot_builder.h"

namespace {

using turnpike::model::Config;
using turnpike::model::Route;
using turnpike::model::Service;
using turnpike::proxy::HeaderField;
using turnpike::proxy::HeaderView;
using turnpike::proxy::RequestView;
using turnpike::proxy::Snapshot;
using turnpike::proxy::SnapshotBuilder;

constexpr int kBuildRepeats = 5;  // builds timed per size; the median is reported

double cpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// A mix like a real gateway's: prefixes, templates with methods, host routes, header routes.
Config makeConfig(int routes) {
  Config config;
  config.version = 1;
  Service service;
  service.id = "5e0b5a52-2a9c-4b1e-9d1e-6f6b2f6c0a01";
  service.name = "svc";
  service.targets.push_back({"http://10.0.0.1:8080", 100});
  config.services.push_back(service);
  config.routes.reserve(static_cast<std::size_t>(routes));
  for (int i = 0; i < routes; ++i) {
    Route r;
    char id[40];
    std::snprintf(id, sizeof id, "00000000-0000-4000-8000-%012d", i);
    std::string n = std::to_string(i);
    r.id = id;
    r.name = "route-" + n;
    r.service = service.id;
    r.created_at = 1700000000 + i;
    switch (i % 4) {
      case 0:
        r.paths = {"/api/svc" + n + "/orders"};
        break;
      case 1:
        r.paths = {"/api/svc" + n + "/users/{id}"};
        r.methods = {"GET", "POST"};
        break;
      case 2:
        r.hosts = {"h" + n + ".example.com"};
        r.paths = {"/v1"};
        break;
      case 3:
        r.paths = {"/api/svc" + n};
        r.headers["x-version"] = {"2"};
        break;
    }
    config.routes.push_back(std::move(r));
  }
  return config;
}

double matchNsPerRequest(const Snapshot& snapshot, int routes) {
  std::vector<std::string> paths;
  for (int i = 0; i < 64; ++i) {
    paths.push_back("/api/svc" + std::to_string((i * 7919) % routes / 4 * 4) + "/orders/7");
  }
  const HeaderField fields[] = {{"user-agent", "wrk"}, {"accept", "*/*"}};
  constexpr int kIterations = 1000000;
  long found = 0;
  double start = cpuMs();
  for (int i = 0; i < kIterations; ++i) {
    RequestView view{"GET", "api.example.com:8000", paths[i & 63], HeaderView(fields)};
    found += snapshot.router().match(view) ? 1 : 0;
  }
  double ns = (cpuMs() - start) * 1e6 / kIterations;
  if (found != kIterations) std::printf("  unexpected: %ld of %d matched\n", found, kIterations);
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  int routes = argc > 1 ? std::atoi(argv[1]) : 100000;
  if (routes < 4) routes = 4;

  Config config = makeConfig(routes);
  auto heap_before = mallinfo2().uordblks;
  double start = cpuMs();
  auto copied = SnapshotBuilder::build(config);
  double copied_ms = cpuMs() - start;
  if (!copied) {
    std::printf("build failed: %s\n", copied.error().message.c_str());
    return 1;
  }
  auto heap_after = mallinfo2().uordblks;
  // The budget's figure: the median of a few builds, each from a fresh config (not timed), since
  // the shared machine's speed moves by a third from one second to the next.
  std::vector<double> moved_ms;
  for (int i = 0; i < kBuildRepeats; ++i) {
    Config fresh = i == 0 ? std::move(config) : makeConfig(routes);
    start = cpuMs();
    auto moved = SnapshotBuilder::build(std::move(fresh));
    moved_ms.push_back(cpuMs() - start);
  }
  std::sort(moved_ms.begin(), moved_ms.end());

  std::printf("%d routes\n", routes);
  std::printf("  build(const Config&): %7.1f ms CPU (copies the config)\n", copied_ms);
  std::printf(
      "  build(Config&&):      %7.1f ms CPU, median of %d (%.1f to %.1f; budget: 250 ms for "
      "100k)\n",
      moved_ms[moved_ms.size() / 2], kBuildRepeats, moved_ms.front(), moved_ms.back());
  std::printf("  memory:               %7.0f bytes/route (budget: 2048)\n",
              static_cast<double>(heap_after - heap_before) / routes);

  auto small = SnapshotBuilder::build(makeConfig(12));
  auto large = SnapshotBuilder::build(makeConfig(10000));
  double small_ns = matchNsPerRequest(**small, 12);
  double large_ns = matchNsPerRequest(**large, 10000);
  std::printf("  match: %.0f ns (12 routes), %.0f ns (10k routes)\n", small_ns, large_ns);
  return 0;
}
