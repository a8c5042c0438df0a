// ConfigSync: keeps the proxy's snapshot in step with the stored configuration (DESIGN.md,
// "Configuration propagation", steps 2-5).
//
//   proxy::SnapshotRegistry registry;
//   app::ConfigSync sync(store, feed, registry);
//   if (auto started = sync.start(); !started) log(started.error().message);  // still serving
//   ...
//   sync.waitForVersion(written.version, std::chrono::seconds(5));  // ?wait_for_proxy=true
//   sync.stop();
//
// start() loads and builds the current configuration on the calling thread, so that the proxy
// starts with it, and then runs one sync thread. The ChangeFeed's callback only records the
// newest version and wakes that thread; the thread loads the whole configuration in one read
// transaction (ConfigStore::loadConfig), builds a Snapshot and publishes it.
//
// COALESCING. The first change after a quiet spell (50 ms without a build) is built at once.
// While changes keep coming, builds are spaced 10 ms, 20 ms, 40 ms, ... apart, up to 500 ms,
// each taking in everything committed so far: a burst of 1,000 writes gives a handful of builds.
// A caller blocked in waitForVersion() cancels the spacing (read-your-writes answers stay fast,
// a client writing and waiting in a loop gets one build per write, as it asked).
//
// FAILURES. A load or build that fails publishes nothing: the proxy keeps the last good
// snapshot, the error is logged and shown by lastBuild(), and the next good build clears it. A
// failed load (the database was busy, say) is retried after a second; a failed build waits for
// the next change. While idle, the thread releases retired snapshots every 100 ms
// (SnapshotRegistry::collectRetired()).
//
// MEMORY. Loads, builds and the admin writes behind them allocate in proportion to the
// configuration (a PUT /config of 10,000 routes parses 600 KB of JSON and records each entity's
// history), and glibc keeps what they free for reuse instead of returning it: a process sent
// 10,000 routes stayed at 158 MB resident. So the first idle pass after a build, once no worker
// holds a retired snapshot, calls malloc_trim(0) (at most every 5 s): 95 MB in that case. It runs
// on the sync thread while changes are quiet, and walks every malloc arena, each under its lock, so
// a worker allocating meanwhile may wait for its own arena's turn (the whole trim took 4 ms after
// an import of 5,000 routes).
//
// THREAD: every public member is thread-safe. The store, feed and registry must outlive this
// object. It never calls registry.setPublishListener() (the proxy server owns that hook).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "model/config.h"
#include "model/result.h"
#include "proxy/snapshot.h"
#include "proxy/snapshot_registry.h"
#include "storage/change_feed.h"
#include "storage/config_store.h"

namespace turnpike::app {

class ConfigSync {
 public:
  // Compiles a configuration into a snapshot; proxy::SnapshotBuilder::build by default. Called on
  // the sync thread (and once by start()).
  using BuildFunction =
      std::function<model::Result<proxy::SnapshotConstSharedPtr>(model::Config&& config)>;

  ConfigSync(storage::ConfigStore& store, storage::ChangeFeed& feed,
             proxy::SnapshotRegistry& registry);
  // A test seam: every configuration the model and the store accept also builds, so tests reach
  // the failed-build path through their own `build`.
  ConfigSync(storage::ConfigStore& store, storage::ChangeFeed& feed,
             proxy::SnapshotRegistry& registry, BuildFunction build);
  ~ConfigSync();  // stop()
  ConfigSync(const ConfigSync&) = delete;
  ConfigSync& operator=(const ConfigSync&) = delete;

  // Subscribes to the feed, loads, builds and publishes the current configuration on this
  // thread, then starts the sync thread. Returns the initial load/build's error, if any: the
  // registry then keeps what it had (the empty snapshot at first), the failure is reported like
  // any failed build, and the sync thread runs all the same (the process still starts). Calling
  // start() again while running is kInternal.
  model::Status start();
  // Unsubscribes and joins the sync thread; a build in progress finishes first. Idempotent.
  void stop();

  // For GET /status's proxy.last_build:
  //   {"version": V of the last published snapshot (0: none yet),
  //    "duration_ms": its load + build time (null: none yet),
  //    "at": Unix seconds (fractional) when it was published (null: none yet),
  //    "error": null | message of the latest failed load/build newer than that snapshot,
  //    "error_version": null | the version that failed to build,
  //    "builds": load + build attempts so far}
  nlohmann::json lastBuild() const;

  // Load + build attempts so far (successful or not), the initial one included.
  int64_t buildCount() const;

  // Blocks until every proxy worker serves a version >= `version`
  // (registry.minServedVersion(); without workers, until such a snapshot is published), polling
  // every millisecond; while it waits, pending changes are built without coalescing delay.
  // Returns true when reached; false after `timeout`, or at once when a build
  // of a version >= `version` failed and nothing newer has been published or is pending (waiting
  // could not help until the configuration changes again).
  // When it returns true, lastBuild() already reports that build.
  bool waitForVersion(int64_t version, std::chrono::milliseconds timeout) const;

 private:
  using Clock = std::chrono::steady_clock;

  // Runs on the sync thread until stop().
  void run();
  // Loads, builds and publishes the newest configuration; logs and records the outcome, and
  // returns the failure, if any. REQUIRES: mu_ not held.
  model::Status syncOnce();
  // Every worker serves `version` or newer and syncOnce has recorded the build that published
  // it. REQUIRES: mu_ not held.
  bool servedAndRecorded(int64_t version) const;
  // The next moment a build may start. REQUIRES: mu_ held.
  Clock::time_point nextBuildAllowedLocked(Clock::time_point now);

  storage::ConfigStore& store_;
  storage::ChangeFeed& feed_;
  proxy::SnapshotRegistry& registry_;
  const BuildFunction build_;

  mutable std::mutex mu_;                 // guards everything below
  mutable std::condition_variable wake_;  // the sync thread sleeps on it
  std::thread thread_;
  int subscription_ = 0;   // feed subscription id; 0 when not subscribed
  bool running_ = false;   // between start() and stop()
  bool stopping_ = false;  // tells the sync thread to return
  int64_t wanted_ = 0;     // newest version the feed reported
  int64_t attempted_ = 0;  // version of the last configuration loaded (or wanted, on failure)
  std::optional<Clock::time_point> retry_at_;  // after a failed load
  // Coalescing: when the last build started and finished, and the current spacing.
  Clock::time_point last_build_start_{};
  Clock::time_point last_build_end_{};
  std::chrono::milliseconds spacing_{0};
  mutable int waiters_ = 0;  // callers in waitForVersion(): build without spacing
  // What lastBuild() reports.
  int64_t builds_ = 0;
  int64_t good_version_ = 0;
  std::optional<double> good_duration_ms_;
  std::optional<double> good_at_;  // Unix seconds
  std::optional<std::string> error_;
  int64_t error_version_ = 0;
};

}  // namespace turnpike::app
