// ChangeFeed: tells subscribers the configuration version right after each commit.
//
// The ConfigStore of this process calls publish() after every committed write. A watcher
// thread (startWatcher) polls `PRAGMA data_version` on its own connection to the database
// file, so commits made by another process on the same file are reported too.
//
//   auto feed = std::make_shared<ChangeFeed>();
//   int id = feed->subscribe([](int64_t v) { ... });  // runs on the publishing thread
//   feed->startWatcher("turnpike.db", std::chrono::milliseconds(10));
//
// Thread-safe. Callbacks run on the thread that publishes (an admin thread or the watcher)
// and must be quick; they must not call subscribe/unsubscribe. Versions reported are
// non-decreasing per subscriber; a version may be reported more than once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace turnpike::storage {

class ChangeFeed {
 public:
  using Callback = std::function<void(int64_t version)>;

  ChangeFeed() = default;
  ~ChangeFeed();  // stops the watcher
  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // Returns an id for unsubscribe().
  int subscribe(Callback callback);
  void unsubscribe(int id);

  // Reports `version` to every subscriber unless a version >= it was reported already.
  void publish(int64_t version);

  // The newest version published so far (0 before any).
  int64_t lastVersion() const { return last_version_.load(std::memory_order_acquire); }

  // Starts the data_version watcher on `db_path`, polling every `interval`. When the file
  // changed, reads meta.config_version and publishes it. Idempotent.
  void startWatcher(const std::string& db_path, std::chrono::milliseconds interval);
  void stopWatcher();

 private:
  void watch(std::string db_path, std::chrono::milliseconds interval);

  mutable std::mutex mu_;  // guards subscribers_, next_id_, and serializes publish()
  std::map<int, Callback> subscribers_;
  int next_id_ = 1;
  std::atomic<int64_t> last_version_{0};

  std::mutex watcher_mu_;  // guards stop_ and thread start/stop
  std::condition_variable watcher_cv_;
  bool stop_ = false;
  std::thread watcher_;
};

}  // namespace turnpike::storage
