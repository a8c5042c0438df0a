#include "storage/change_feed.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "storage/config_store.h"
#include "tests/unit/storage/storage_test_util.h"

namespace turnpike::storage {
namespace {

using ::testing::ElementsAre;
using testing::makeService;
using testing::TempDir;
using namespace std::chrono_literals;

// Collects the versions a subscriber is told about and lets a test wait for one.
class Recorder {
 public:
  ChangeFeed::Callback callback() {
    return [this](int64_t v) {
      std::lock_guard lock(mu_);
      versions_.push_back(v);
      cv_.notify_all();
    };
  }

  // True once a version >= `version` was reported, false after `timeout`.
  bool waitFor(int64_t version, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout,
                        [&] { return !versions_.empty() && versions_.back() >= version; });
  }

  std::vector<int64_t> versions() {
    std::lock_guard lock(mu_);
    return versions_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int64_t> versions_;
};

TEST(ChangeFeedTest, PublishReportsOnlyNewerVersions) {
  ChangeFeed feed;
  Recorder recorder;
  feed.subscribe(recorder.callback());
  EXPECT_EQ(feed.lastVersion(), 0);
  for (int64_t v : {1, 1, 0, 3, 2, 4}) feed.publish(v);
  EXPECT_THAT(recorder.versions(), ElementsAre(1, 3, 4));
  EXPECT_EQ(feed.lastVersion(), 4);
}

TEST(ChangeFeedTest, UnsubscribedCallbacksAreNotCalled) {
  ChangeFeed feed;
  Recorder kept, dropped;
  feed.subscribe(kept.callback());
  const int id = feed.subscribe(dropped.callback());
  feed.publish(1);
  feed.unsubscribe(id);
  feed.publish(2);
  EXPECT_THAT(kept.versions(), ElementsAre(1, 2));
  EXPECT_THAT(dropped.versions(), ElementsAre(1));
}

TEST(ChangeFeedTest, AThrowingSubscriberDoesNotSilenceTheOthers) {
  ChangeFeed feed;
  Recorder recorder;
  feed.subscribe([](int64_t) { throw std::runtime_error("boom"); });
  feed.subscribe(recorder.callback());
  feed.publish(1);
  EXPECT_THAT(recorder.versions(), ElementsAre(1));
}

TEST(ChangeFeedTest, StoreWritesAreReportedInProcess) {
  TempDir dir;
  auto feed = std::make_shared<ChangeFeed>();
  Recorder recorder;
  feed->subscribe(recorder.callback());
  auto store = ConfigStore::open(dir.file("t.db"), feed);
  ASSERT_TRUE(store.ok()) << store.error().message;

  ASSERT_TRUE((*store)->create(makeService("orders"), {}).ok());
  EXPECT_THAT(recorder.versions(), ElementsAre(1));  // synchronously, before create returns
  ASSERT_TRUE((*store)->remove<model::Service>("orders", {}).ok());
  EXPECT_THAT(recorder.versions(), ElementsAre(1, 2));

  // Failed writes and no-op replacements publish nothing.
  EXPECT_FALSE((*store)->remove<model::Service>("orders", {}).ok());
  auto config = (*store)->loadConfig();
  ASSERT_TRUE(config.ok());
  ASSERT_TRUE((*store)->replaceConfig(*config, {}, /*dry_run=*/false).ok());
  EXPECT_THAT(recorder.versions(), ElementsAre(1, 2));
}

TEST(ChangeFeedTest, WatcherSeesWritesFromAnotherConnection) {
  TempDir dir;
  const std::string path = dir.file("t.db");
  auto feed = std::make_shared<ChangeFeed>();
  auto mine = ConfigStore::open(path, feed);
  ASSERT_TRUE(mine.ok()) << mine.error().message;
  Recorder recorder;
  feed->subscribe(recorder.callback());
  feed->startWatcher(path, 10ms);

  // Another store on the same file stands in for another process: it shares nothing with
  // `feed` but the file.
  auto other = ConfigStore::open(path, nullptr);
  ASSERT_TRUE(other.ok()) << other.error().message;
  ASSERT_TRUE((*other)->create(makeService("orders"), {}).ok());
  EXPECT_TRUE(recorder.waitFor(1, 1s));
  ASSERT_TRUE((*other)->create(makeService("billing"), {}).ok());
  EXPECT_TRUE(recorder.waitFor(2, 1s));
  EXPECT_EQ(feed->lastVersion(), 2);
  feed->stopWatcher();
}

TEST(ChangeFeedTest, WatcherWaitsForAFileThatDoesNotExistYet) {
  TempDir dir;
  const std::string path = dir.file("later.db");
  ChangeFeed feed;
  Recorder recorder;
  feed.subscribe(recorder.callback());
  feed.startWatcher(path, 10ms);
  std::this_thread::sleep_for(50ms);  // a few failed ticks

  auto store = ConfigStore::open(path, nullptr);
  ASSERT_TRUE(store.ok()) << store.error().message;
  ASSERT_TRUE((*store)->create(makeService("orders"), {}).ok());
  EXPECT_TRUE(recorder.waitFor(1, 1s));
}

TEST(ChangeFeedTest, StartAndStopAreIdempotentAndPrompt) {
  TempDir dir;
  ChangeFeed feed;
  feed.stopWatcher();  // never started
  feed.startWatcher(dir.file("t.db"), 1h);
  feed.startWatcher(dir.file("t.db"), 1h);  // already running: ignored
  const auto start = std::chrono::steady_clock::now();
  feed.stopWatcher();  // wakes the sleeping watcher instead of waiting an hour
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  feed.stopWatcher();
  feed.startWatcher(dir.file("t.db"), 1h);  // restartable; the destructor stops it
}

}  // namespace
}  // namespace turnpike::storage
