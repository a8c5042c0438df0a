// Micro-benchmark for the store's side of an admin write at scale: PUT /config of a large
// configuration (ConfigStore::replaceConfig), then ConfigStore::loadConfig, which every admin
// write pays before the proxy's snapshot is rebuilt. The configuration mirrors scripts/bench
// scenario 5 (bench.py configure_turnpike): one service, one policy, one consumer,
// four named routes and N "/r/<i>" routes.
//
//   load_config_bench [routes=10000] [loads=10]
//
// Times are wall clock (a commit waits for fsync) and the thread's CPU time. loadConfig runs
// once after the replace and then `loads` more times (median and best shown). Memory is the
// growth of malloc's in-use bytes (mallinfo2). The database lives in a temporary directory that
// is removed at exit.
#include <malloc.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "model/config.h"
#include "storage/config_store.h"

namespace {

using nlohmann::json;

double cpuMs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

double wallMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The PUT /config body bench.py sends, parsed the way the admin handler parses it.
json configBody(int routes) {
  auto route = [](const std::string& path) {
    return json{{"service", "bench-upstream"}, {"paths", {path}}, {"strip_path", false}};
  };
  json list = json::array();
  json r = route("/s1");
  r["name"] = "s1-plain";
  list.push_back(r);
  r = route("/s2");
  r["name"] = "s2-key-auth";
  r["auth"] = {{"type", "api_key"}};
  r["rate_limit_policies"] = {"bench-never-refuses"};
  list.push_back(r);
  r = route("/1mb");
  r["name"] = "s3-1mb";
  list.push_back(r);
  r = route("/upload");
  r["name"] = "s4-upload";
  r["methods"] = {"POST"};
  list.push_back(r);
  for (int i = 0; i < routes; ++i) list.push_back(route("/r/" + std::to_string(i)));
  return {{"services",
           {{{"name", "bench-upstream"},
             {"targets", {{{"url", "http://127.0.0.1:18080"}, {"weight", 100}}}}}}},
          {"routes", std::move(list)},
          {"rate_limit_policies",
           {{{"name", "bench-never-refuses"},
             {"limit", 1000000000000},
             {"window_s", 60},
             {"key_by", "consumer"}}}},
          {"consumers", {{{"username", "bench-client"}}}}};
}

}  // namespace

int main(int argc, char** argv) {
  using turnpike::storage::ConfigStore;
  const int routes = argc > 1 ? std::max(1, std::atoi(argv[1])) : 10000;
  const int loads = argc > 2 ? std::max(1, std::atoi(argv[2])) : 10;

  std::string dir = (std::filesystem::temp_directory_path() / "turnpike-bench-XXXXXX").string();
  if (mkdtemp(dir.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  int status = 0;
  {
    auto store = ConfigStore::open(dir + "/bench.db", nullptr);
    if (!store) {
      std::printf("open failed: %s\n", store.error().message.c_str());
      return 1;
    }
    auto config = turnpike::model::parseConfig(configBody(routes));
    if (!config) {
      std::printf("parse failed: %s\n", config.error().message.c_str());
      return 1;
    }

    double wall = wallMs(), cpu = cpuMs();
    auto replaced = (*store)->replaceConfig(*config, {.actor = "bench"}, /*dry_run=*/false);
    std::printf("%d routes\n", routes + 4);
    std::printf("  replaceConfig (new):       %8.1f ms wall, %8.1f ms CPU\n", wallMs() - wall,
                cpuMs() - cpu);
    if (!replaced) {
      std::printf("replaceConfig failed: %s\n", replaced.error().message.c_str());
      status = 1;
    }

    // The same document again: every entity matches and nothing changes.
    wall = wallMs(), cpu = cpuMs();
    auto same = (*store)->replaceConfig(*config, {.actor = "bench"}, /*dry_run=*/false);
    std::printf("  replaceConfig (unchanged): %8.1f ms wall, %8.1f ms CPU\n", wallMs() - wall,
                cpuMs() - cpu);
    if (!same) status = 1;

    // The first load decodes every row the replace wrote; later ones, like the load after a
    // one-entity admin write, find almost every row as an earlier load decoded it.
    std::vector<double> wall_ms, cpu_ms;
    size_t loaded_routes = 0;
    for (int i = 0; i <= loads && status == 0; ++i) {
      wall = wallMs(), cpu = cpuMs();
      auto loaded = (*store)->loadConfig();
      const double load_wall = wallMs() - wall, load_cpu = cpuMs() - cpu;
      if (!loaded) {
        std::printf("loadConfig failed: %s\n", loaded.error().message.c_str());
        status = 1;
      } else if (i == 0) {
        loaded_routes = loaded->routes.size();
        std::printf("  loadConfig, first:         %8.1f ms wall, %8.1f ms CPU (%zu routes)\n",
                    load_wall, load_cpu, loaded_routes);
      } else {
        wall_ms.push_back(load_wall);
        cpu_ms.push_back(load_cpu);
      }
    }
    if (status == 0) {
      std::sort(wall_ms.begin(), wall_ms.end());
      std::sort(cpu_ms.begin(), cpu_ms.end());
      std::printf(
          "  loadConfig, next %d:       %8.1f ms wall, %8.1f ms CPU (median; best %.1f ms "
          "wall)\n",
          loads, wall_ms[wall_ms.size() / 2], cpu_ms[cpu_ms.size() / 2], wall_ms.front());
    }
    // What a store keeps between loads: a second store on the same file, after one load.
    if (status == 0) {
      auto other = ConfigStore::open(dir + "/bench.db", nullptr);
      const size_t heap_before = mallinfo2().uordblks;
      if (!other || !(*other)->loadConfig()) {
        status = 1;
      } else {
        std::printf("  kept between loads:        %8.0f bytes/route\n",
                    static_cast<double>(mallinfo2().uordblks - heap_before) / (routes + 4));
      }
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  return status;
}
