#include "proxy/snapshot_registry.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "proxy_test_util.h"

namespace turnpike::proxy {
namespace {

using testing::makeConfig;
using testing::matchedName;
using testing::mustBuild;
using testing::req;
using testing::RouteDef;

// A snapshot whose routes all carry its version, so a reader can tell a torn or mixed one.
SnapshotConstSharedPtr versioned(int64_t version) {
  std::string v = std::to_string(version);
  return mustBuild(makeConfig({RouteDef("a" + v).paths({"/a"}), RouteDef("b" + v).paths({"/b"}),
                               RouteDef("c" + v).paths({"/users/{id}"})},
                              version));
}

TEST(SnapshotRegistryTest, StartsWithTheEmptySnapshot) {
  SnapshotRegistry registry;
  EXPECT_EQ(registry.version(), 0);
  EXPECT_EQ(registry.current(), SnapshotBuilder::empty());
  SnapshotCache cache(registry, "w0");
  ASSERT_NE(cache.current(), nullptr);
  EXPECT_EQ(cache.current()->version(), 0);
}

TEST(SnapshotRegistryTest, CachePicksUpPublishedSnapshots) {
  SnapshotRegistry registry(versioned(1));
  SnapshotCache cache(registry, "w0");
  const Snapshot* first = cache.current().get();
  EXPECT_EQ(cache.current()->version(), 1);
  EXPECT_EQ(cache.current().get(), first);  // nothing published: the same snapshot

  SnapshotConstSharedPtr pinned = cache.current();  // a request in flight
  ASSERT_TRUE(registry.publish(versioned(2)));
  EXPECT_EQ(registry.version(), 2);
  EXPECT_EQ(cache.current()->version(), 2);
  EXPECT_EQ(matchedName(*cache.current(), req("GET", "h", "/a")), "a2");
  EXPECT_EQ(pinned->version(), 1);  // the pinned snapshot is intact
  EXPECT_EQ(matchedName(*pinned, req("GET", "h", "/a")), "a1");
}

TEST(SnapshotRegistryTest, RefusesOlderVersionsAcceptsEqual) {
  SnapshotRegistry registry(versioned(5));
  SnapshotCache cache(registry, "w0");
  EXPECT_FALSE(registry.publish(versioned(4)));
  EXPECT_FALSE(registry.publish(nullptr));
  EXPECT_EQ(registry.version(), 5);
  EXPECT_EQ(cache.current()->version(), 5);

  auto rebuilt = versioned(5);
  EXPECT_TRUE(registry.publish(rebuilt));
  EXPECT_EQ(cache.current(), rebuilt);  // same version, new object: still picked up
}

TEST(SnapshotRegistryTest, ReportsServedVersionsPerWorker) {
  SnapshotRegistry registry(versioned(1));
  SnapshotCache w0(registry, "w0");
  SnapshotCache w1(registry, "w1");
  ASSERT_TRUE(registry.publish(versioned(2)));
  (void)w0.current();  // w0 serves a request; w1 is idle

  std::vector<WorkerVersion> served = registry.servedVersions();
  ASSERT_EQ(served.size(), 2u);
  EXPECT_EQ(served[0].worker, "w0");
  EXPECT_EQ(served[0].version, 2);
  EXPECT_EQ(served[1].worker, "w1");
  EXPECT_EQ(served[1].version, 1);
  EXPECT_EQ(registry.minServedVersion(), 1);

  (void)w1.current();
  EXPECT_EQ(registry.minServedVersion(), 2);
  {
    SnapshotCache w2(registry, "w2");
    EXPECT_EQ(registry.servedVersions().size(), 3u);
  }
  EXPECT_EQ(registry.servedVersions().size(), 2u);
}

TEST(SnapshotRegistryTest, OldSnapshotsAreFreedOnTheControlThread) {
  SnapshotRegistry registry(versioned(1));
  std::weak_ptr<const Snapshot> v1 = registry.current();
  SnapshotCache cache(registry, "w0");
  ASSERT_TRUE(registry.publish(versioned(2)));
  // The cache still holds v1: the registry keeps it as retired.
  EXPECT_EQ(registry.retiredCount(), 1u);
  EXPECT_FALSE(v1.expired());

  (void)cache.current();  // the worker moves to v2; its drop of v1 is not the last reference
  EXPECT_FALSE(v1.expired());
  registry.collectRetired();  // the control thread frees it
  EXPECT_TRUE(v1.expired());
  EXPECT_EQ(registry.retiredCount(), 0u);

  // A snapshot no cache ever held is released by publish() itself.
  std::weak_ptr<const Snapshot> v3;
  {
    auto s3 = versioned(3);
    v3 = s3;
    ASSERT_TRUE(registry.publish(std::move(s3)));
  }
  ASSERT_TRUE(registry.publish(versioned(4)));
  EXPECT_TRUE(v3.expired());
  EXPECT_EQ(registry.retiredCount(), 1u);  // v2, still in the cache
}

TEST(SnapshotRegistryTest, CallsThePublishListener) {
  SnapshotRegistry registry;
  std::vector<int64_t> seen;
  registry.setPublishListener([&](int64_t version) { seen.push_back(version); });
  ASSERT_TRUE(registry.publish(versioned(3)));
  ASSERT_FALSE(registry.publish(versioned(2)));
  ASSERT_TRUE(registry.publish(versioned(7)));
  EXPECT_EQ(seen, (std::vector<int64_t>{3, 7}));
}

// A publisher in a tight loop; readers through their own caches always see a complete snapshot
// and never a version going backwards. Run under TSan too: short and deterministic in outcome.
TEST(SnapshotRegistryTest, ConcurrentPublishAndRead) {
  constexpr int64_t kPublishes = 300;
  constexpr int kReaders = 3;
  std::vector<SnapshotConstSharedPtr> prebuilt;
  for (int64_t v = 1; v <= kPublishes; ++v) prebuilt.push_back(versioned(v));

  SnapshotRegistry registry;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  std::vector<int64_t> last_seen(kReaders, 0);
  for (int i = 0; i < kReaders; ++i) {
    readers.emplace_back([&, i] {
      SnapshotCache cache(registry, "w" + std::to_string(i));
      testing::Request a = req("GET", "h", "/a/1");
      testing::Request c = req("GET", "h", "/users/7");
      int64_t last = -1;
      auto check = [&] {
        SnapshotConstSharedPtr pinned = cache.current();
        int64_t v = pinned->version();
        if (v < last) failures.fetch_add(1);
        last = v;
        if (v == 0) return;  // the initial empty snapshot
        std::string sv = std::to_string(v);
        RouteMatch ma = pinned->router().match(a.view());
        RouteMatch mc = pinned->router().match(c.view());
        if (pinned->routes().size() != 3 || !ma || ma.route->name() != "a" + sv || !mc ||
            mc.route->name() != "c" + sv || mc.params.size() != 1) {
          failures.fetch_add(1);
        }
      };
      while (!done.load(std::memory_order_acquire)) check();
      check();  // after the last publish: must see it
      last_seen[static_cast<std::size_t>(i)] = last;
    });
  }
  std::thread publisher([&] {
    for (const SnapshotConstSharedPtr& s : prebuilt) {
      if (!registry.publish(s)) failures.fetch_add(1);
      if (s->version() % 50 == 0) registry.collectRetired();
    }
    done.store(true, std::memory_order_release);
  });
  publisher.join();
  for (std::thread& t : readers) t.join();

  EXPECT_EQ(failures.load(), 0);
  for (int64_t v : last_seen) EXPECT_EQ(v, kPublishes);
  EXPECT_EQ(registry.version(), kPublishes);
  prebuilt.clear();
  registry.collectRetired();
  EXPECT_EQ(registry.retiredCount(), 0u);  // no cache is left
}

}  // namespace
}  // namespace turnpike::proxy
