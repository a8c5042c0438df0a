#include "app/config_sync.h"

#include <malloc.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <utility>

#include "proxy/snapshot_builder.h"

namespace turnpike::app {
namespace {

using namespace std::chrono_literals;

// While idle, how often retired snapshots are released.
constexpr std::chrono::milliseconds kCollectInterval = 100ms;
// At most one malloc_trim() this often, so that steady configuration churn does not trim after
// every build.
constexpr std::chrono::seconds kTrimInterval = 5s;
// A change noticed within this long after the previous build ended belongs to a burst.
constexpr std::chrono::milliseconds kQuietPeriod = 50ms;
// Spacing between builds during a burst: starts here and doubles up to the cap (40 ms, or twice
// the last build's duration when builds are slow). An isolated write is built at once, and so
// is any write someone waits for; a write inside a burst waits at most one spacing.
constexpr std::chrono::milliseconds kMinSpacing = 10ms;
constexpr std::chrono::milliseconds kMaxSpacing = 40ms;
// A failed load (busy or unreadable database) is tried again after this long.
constexpr std::chrono::milliseconds kLoadRetry = 1000ms;
// waitForVersion's polling interval.
constexpr std::chrono::milliseconds kWaitPoll = 1ms;

model::Result<proxy::SnapshotConstSharedPtr> defaultBuild(model::Config&& config) {
  return proxy::SnapshotBuilder::build(std::move(config));
}

double unixSecondsNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// One line for the log and for /status: the summary and every field error.
std::string describe(const model::Error& error) {
  std::string text = error.message;
  for (const model::FieldError& field : error.fields) {
    text += "; " + field.field + ": " + field.message;
  }
  return text;
}

}  // namespace

ConfigSync::ConfigSync(storage::ConfigStore& store, storage::ChangeFeed& feed,
                       proxy::SnapshotRegistry& registry)
    : ConfigSync(store, feed, registry, &defaultBuild) {}

ConfigSync::ConfigSync(storage::ConfigStore& store, storage::ChangeFeed& feed,
                       proxy::SnapshotRegistry& registry, BuildFunction build)
    : store_(store), feed_(feed), registry_(registry), build_(std::move(build)) {}

ConfigSync::~ConfigSync() { stop(); }

model::Status ConfigSync::start() {
  {
    std::lock_guard lock(mu_);
    if (running_) return model::Error::internal("config sync is already running");
    running_ = true;
    stopping_ = false;
  }
  // Subscribed before the first load: a commit that lands in between is either in that load or
  // reported afterwards, never lost.
  const int id = feed_.subscribe([this](int64_t version) {
    {
      std::lock_guard lock(mu_);
      wanted_ = std::max(wanted_, version);
    }
    wake_.notify_one();
  });
  {
    std::lock_guard lock(mu_);
    subscription_ = id;
    wanted_ = std::max(wanted_, feed_.lastVersion());
  }
  model::Status initial = syncOnce();
  std::lock_guard lock(mu_);
  thread_ = std::thread(&ConfigSync::run, this);
  return initial;
}

void ConfigSync::stop() {
  int subscription = 0;
  std::thread thread;
  {
    std::lock_guard lock(mu_);
    if (!running_) return;
    running_ = false;
    stopping_ = true;
    subscription = subscription_;
    subscription_ = 0;
    thread = std::move(thread_);
  }
  // Not under mu_: the feed calls back with its own lock held, and the callback takes mu_.
  if (subscription != 0) feed_.unsubscribe(subscription);
  wake_.notify_all();
  if (thread.joinable()) thread.join();
}

nlohmann::json ConfigSync::lastBuild() const {
  std::lock_guard lock(mu_);
  auto orNull = [](const auto& value) {
    return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
  };
  return {{"version", good_version_},
          {"duration_ms", orNull(good_duration_ms_)},
          {"at", orNull(good_at_)},
          {"error", orNull(error_)},
          {"error_version", error_ ? nlohmann::json(error_version_) : nlohmann::json(nullptr)},
          {"builds", builds_}};
}

int64_t ConfigSync::buildCount() const {
  std::lock_guard lock(mu_);
  return builds_;
}

bool ConfigSync::servedAndRecorded(int64_t version) const {
  if (registry_.minServedVersion() < version) return false;
  // The registry sees a publish before syncOnce records it under mu_; until then lastBuild()
  // would still describe the previous build (an error already cleared, an older version).
  std::lock_guard lock(mu_);
  return attempted_ >= version || wanted_ <= attempted_;
}

bool ConfigSync::waitForVersion(int64_t version, std::chrono::milliseconds timeout) const {
  if (servedAndRecorded(version)) return true;
  const Clock::time_point deadline = Clock::now() + timeout;
  {
    std::lock_guard lock(mu_);
    ++waiters_;
  }
  wake_.notify_all();  // a build held back for coalescing goes now
  bool reached = false;
  for (;;) {
    if (servedAndRecorded(version)) {
      reached = true;
      break;
    }
    {
      std::lock_guard lock(mu_);
      const bool pending = wanted_ > attempted_ || retry_at_.has_value();
      if (error_ && error_version_ >= version && good_version_ < version && !pending) break;
    }
    if (Clock::now() >= deadline) break;
    std::this_thread::sleep_for(kWaitPoll);
  }
  std::lock_guard lock(mu_);
  --waiters_;
  return reached;
}

ConfigSync::Clock::time_point ConfigSync::nextBuildAllowedLocked(Clock::time_point now) {
  if (now - last_build_end_ >= kQuietPeriod) {
    spacing_ = 0ms;  // a change after a quiet spell is built at once
  } else {
    // Under a burst, builds are spaced further apart, but never more than 40 ms (the propagation
    // budget is 50 ms at p99) unless a build itself takes longer: then the control thread
    // builds at most half of the time.
    const auto last_build =
        std::chrono::duration_cast<std::chrono::milliseconds>(last_build_end_ - last_build_start_);
    spacing_ = std::clamp(spacing_ * 2, kMinSpacing, std::max(kMaxSpacing, 2 * last_build));
  }
  return last_build_start_ + spacing_;
}

void ConfigSync::run() {
  std::unique_lock lock(mu_);
  // When the pending change may be built; time_point::max() when none is pending. (Not an
  // optional: GCC 12 at -O2 warns about a maybe-uninitialized optional here.)
  constexpr Clock::time_point kNoBuild = Clock::time_point::max();
  Clock::time_point build_at = kNoBuild;
  bool trim_due = false;        // a build ran since the last malloc_trim()
  Clock::time_point last_trim;  // the epoch: the first trim may come at once
  while (!stopping_) {
    const Clock::time_point now = Clock::now();
    const bool retry_due = retry_at_ && now >= *retry_at_;
    if (wanted_ > attempted_ && build_at == kNoBuild) build_at = nextBuildAllowedLocked(now);

    if (retry_due || (build_at != kNoBuild && (now >= build_at || waiters_ > 0))) {
      build_at = kNoBuild;
      lock.unlock();
      (void)syncOnce();  // it logged and recorded the outcome
      trim_due = true;
      lock.lock();
      continue;
    }

    if (build_at != kNoBuild) {
      // Spacing builds during a burst; changes arriving meanwhile ride along.
      wake_.wait_until(lock, build_at, [this] { return stopping_ || waiters_ > 0; });
      continue;
    }
    Clock::time_point until = now + kCollectInterval;
    if (retry_at_) until = std::min(until, *retry_at_);
    if (wake_.wait_until(lock, until, [this] { return stopping_ || wanted_ > attempted_; })) {
      continue;
    }
    lock.unlock();
    registry_.collectRetired();  // old snapshots are freed here, on this thread
    if (trim_due && registry_.retiredCount() == 0 && now - last_trim >= kTrimInterval) {
      trim_due = false;
      const Clock::time_point started = Clock::now();
      last_trim = started;
      ::malloc_trim(0);
      spdlog::debug("config sync: freed memory returned to the system in {:.2f} ms",
                    std::chrono::duration<double, std::milli>(Clock::now() - started).count());
    }
    lock.lock();
  }
}

model::Status ConfigSync::syncOnce() {
  int64_t target = 0;
  const Clock::time_point started = Clock::now();
  {
    std::lock_guard lock(mu_);
    target = wanted_;
    ++builds_;
    last_build_start_ = started;
    retry_at_.reset();
  }

  std::optional<model::Error> failure;
  int64_t version = target;
  bool load_failed = false;
  proxy::SnapshotConstSharedPtr snapshot;
  try {
    model::Result<model::Config> config = store_.loadConfig();
    if (!config) {
      failure = config.error();
      load_failed = true;
    } else {
      version = config->version;
      model::Result<proxy::SnapshotConstSharedPtr> built = build_(std::move(*config));
      if (!built) {
        failure = built.error();
      } else if (*built == nullptr) {
        failure = model::Error::internal("the builder returned no snapshot");
      } else {
        snapshot = std::move(*built);
      }
    }
  } catch (const std::exception& e) {
    failure = model::Error::internal(std::string("snapshot build threw: ") + e.what());
  }

  bool published = false;
  if (snapshot) {
    published = registry_.publish(snapshot);
    // Refused only when the registry holds a newer version, i.e. someone else published one.
    if (!published) {
      spdlog::warn("config sync: version {} not published: the proxy already has version {}",
                   version, registry_.version());
    }
    snapshot.reset();  // the registry holds it now (or it is stale): freed here, not on a worker
  }
  const Clock::time_point finished = Clock::now();
  const double duration_ms = std::chrono::duration<double, std::milli>(finished - started).count();

  int64_t serving = 0;
  std::string message;
  {
    std::lock_guard lock(mu_);
    last_build_end_ = finished;
    attempted_ = std::max(attempted_, version);
    if (failure) {
      message = describe(*failure);
      error_ = message;
      error_version_ = version;
      if (load_failed) retry_at_ = finished + kLoadRetry;
      serving = good_version_;
    } else {
      if (published) {
        good_version_ = version;
        good_duration_ms_ = duration_ms;
        good_at_ = unixSecondsNow();
      }
      error_.reset();
      error_version_ = 0;
    }
  }
  if (failure) {
    spdlog::error("config sync: version {} {}; the proxy keeps serving version {}: {}", version,
                  load_failed ? "could not be loaded" : "does not build", serving, message);
    return *failure;
  }
  spdlog::debug("config sync: version {} published in {:.2f} ms", version, duration_ms);
  return model::Ok{};
}

}  // namespace turnpike::app
