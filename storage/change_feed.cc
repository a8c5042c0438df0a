#include "storage/change_feed.h"

#include <SQLiteCpp/SQLiteCpp.h>

#include <exception>
#include <memory>
#include <utility>

namespace turnpike::storage {

namespace {

// Short on purpose: a reader in WAL mode is rarely blocked, and when it is, the next tick retries
// rather than delaying stopWatcher().
constexpr int kWatcherBusyTimeoutMs = 50;

}  // namespace

ChangeFeed::~ChangeFeed() { stopWatcher(); }

int ChangeFeed::subscribe(Callback callback) {
  std::lock_guard lock(mu_);
  const int id = next_id_++;
  subscribers_.emplace(id, std::move(callback));
  return id;
}

void ChangeFeed::unsubscribe(int id) {
  std::lock_guard lock(mu_);
  subscribers_.erase(id);
}

void ChangeFeed::publish(int64_t version) {
  // Holding mu_ while calling back serializes publishers, which is what keeps the versions each
  // subscriber sees non-decreasing.
  std::lock_guard lock(mu_);
  if (version <= last_version_.load(std::memory_order_relaxed)) return;
  last_version_.store(version, std::memory_order_release);
  for (auto& [id, callback] : subscribers_) {
    try {
      callback(version);
    } catch (...) {
      // A subscriber's failure must not keep the others from hearing about the version, nor
      // escape into the writer or the watcher thread.
    }
  }
}

void ChangeFeed::startWatcher(const std::string& db_path, std::chrono::milliseconds interval) {
  std::lock_guard lock(watcher_mu_);
  if (watcher_.joinable()) return;
  stop_ = false;
  watcher_ = std::thread(&ChangeFeed::watch, this, db_path, interval);
}

void ChangeFeed::stopWatcher() {
  std::thread thread;
  {
    std::lock_guard lock(watcher_mu_);
    stop_ = true;
    thread = std::move(watcher_);
  }
  watcher_cv_.notify_all();
  // Joined outside watcher_mu_: the watcher takes that lock to sleep.
  if (thread.joinable()) thread.join();
}

void ChangeFeed::watch(std::string db_path, std::chrono::milliseconds interval) {
  std::unique_ptr<SQLite::Database> db;
  int64_t seen_data_version = -1;  // data_version is never negative: nothing read yet
  for (;;) {
    try {
      if (!db) {
        db = std::make_unique<SQLite::Database>(db_path, SQLite::OPEN_READONLY,
                                                kWatcherBusyTimeoutMs);
        seen_data_version = -1;
      }
      SQLite::Statement data_version(*db, "PRAGMA data_version");
      data_version.executeStep();
      const int64_t dv = data_version.getColumn(0).getInt64();
      if (dv != seen_data_version) {
        SQLite::Statement q(*db, "SELECT value FROM meta WHERE key = 'config_version'");
        if (q.executeStep()) {
          const int64_t version = q.getColumn(0).getInt64();
          // Only now is the change taken as seen: if the read above failed, the next tick
          // tries again.
          seen_data_version = dv;
          publish(version);
        }
      }
    } catch (...) {
      // Busy, not yet migrated, or the file is missing: drop the connection and retry on the
      // next tick. Nothing may escape this thread.
      db.reset();
    }

    std::unique_lock lock(watcher_mu_);
    if (watcher_cv_.wait_for(lock, interval, [this] { return stop_; })) return;
  }
}

}  // namespace turnpike::storage
