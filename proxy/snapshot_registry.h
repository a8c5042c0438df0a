// SnapshotRegistry and SnapshotCache: how a Snapshot built on the control thread reaches the
// proxy workers (DESIGN.md, "Configuration propagation", step 4).
//
//   // control thread (ConfigSync)
//   SnapshotRegistry registry;                       // starts with SnapshotBuilder::empty()
//   registry.publish(*SnapshotBuilder::build(config));
//
//   // each worker thread, once
//   SnapshotCache cache(registry, "worker-0");
//   // per request
//   SnapshotConstSharedPtr pinned = cache.current();  // copy = pin for the request's lifetime
//
// THE FAST PATH. A published snapshot gets a new generation number. SnapshotCache::current() is
// one acquire load of that number and a compare; only when it moved does the cache take the
// registry's mutex, copy the shared_ptr and record what the worker now serves. The mutex is thus
// taken once per worker per publication, never per request, and never held while a snapshot is
// built or destroyed.
//
// MEMORY ORDERING. publish() stores the new snapshot into current_ under mu_ and then stores
// the generation with memory_order_release (still under mu_). current() loads the generation
// with memory_order_acquire; a changed value sends it into refresh(), which reads current_ under
// mu_. The mutex is what orders the snapshot's contents (written by the builder before publish)
// before the worker's reads; the atomic only tells the worker *that* it should look, so a stale
// read of it merely delays the switch by one request. version() is one acquire load of the
// published config version (for /status and read-your-writes waits); it is stored before the
// generation, so a worker that sees the new generation also reads at least that version.
//
// LIFETIME. Old snapshots should not be destroyed on a worker (a 100k-route snapshot takes
// milliseconds to free). The registry keeps a replaced snapshot ("retired") while some worker's
// cache still holds it; caches drop their reference under mu_ while the registry still holds
// one, and retired snapshots are released by publish() or collectRetired() on the control
// thread. A request that still pins an old snapshot when it ends frees it on its worker; that is
// rare and correct.
//
// THREAD: SnapshotRegistry is thread-safe. A SnapshotCache belongs to one worker thread and is
// not thread-safe. The registry must outlive every cache made from it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "proxy/snapshot.h"

namespace turnpike::proxy {

// What one worker serves, for GET /status.
struct WorkerVersion {
  std::string worker;
  int64_t version = 0;
};

class SnapshotRegistry {
 public:
  // Starts with `initial` (SnapshotBuilder::empty() when null).
  explicit SnapshotRegistry(SnapshotConstSharedPtr initial = nullptr);
  // REQUIRES: every SnapshotCache made from this registry is gone.
  ~SnapshotRegistry();
  SnapshotRegistry(const SnapshotRegistry&) = delete;
  SnapshotRegistry& operator=(const SnapshotRegistry&) = delete;

  // Makes `snapshot` the one workers pick up. Refused (returns false, nothing changes) when it is
  // null or older than the current one (version() < current version), so that a slow build
  // cannot roll the proxy back; an equal version is accepted (a rebuild of the same config).
  // Calls the publish listener, if any, after releasing the lock. Thread: any; in practice the
  // control thread (old snapshots may be freed here).
  bool publish(SnapshotConstSharedPtr snapshot);

  // The config version of the current snapshot. One atomic load.
  int64_t version() const { return version_.load(std::memory_order_acquire); }

  // The current snapshot (takes the mutex: for the control plane, not for requests).
  SnapshotConstSharedPtr current() const;

  // What each live SnapshotCache serves, in registration order. A worker that has not called
  // current() since a publish still reports the older version.
  std::vector<WorkerVersion> servedVersions() const;
  // The lowest version any cache serves; version() when there are none. For read-your-writes
  // waits (?wait_for_proxy=true).
  int64_t minServedVersion() const;

  // Releases retired snapshots that no cache holds any more. Thread: the control thread (the
  // snapshots are freed here); publish() does this too.
  void collectRetired();
  // The number of replaced snapshots still kept because a cache holds them (tests, /status).
  std::size_t retiredCount() const;

  // Called with the new version after each successful publish, on the publishing thread, without
  // the lock held. Use it to nudge idle workers (post a cache.current() to each io_context) so
  // that /status and read-your-writes do not wait for traffic. Set it before publishing starts.
  void setPublishListener(std::function<void(int64_t version)> listener);

 private:
  friend class SnapshotCache;

  // One per SnapshotCache. Fields GUARDED_BY(mu_).
  struct WorkerSlot {
    std::string name;
    uint64_t generation = 0;  // generation of the snapshot the cache holds (0: none yet)
    int64_t version = 0;      // its config version
  };
  struct Retired {
    uint64_t generation;
    SnapshotConstSharedPtr snapshot;
  };

  // REQUIRES: mu_ held. Moves retired snapshots no slot holds into `released` (to be freed after
  // unlocking).
  void pruneRetiredLocked(std::vector<SnapshotConstSharedPtr>& released);

  mutable std::mutex mu_;
  SnapshotConstSharedPtr current_;         // GUARDED_BY(mu_)
  std::vector<Retired> retired_;           // GUARDED_BY(mu_)
  std::list<WorkerSlot> workers_;          // GUARDED_BY(mu_); std::list: stable addresses
  std::function<void(int64_t)> listener_;  // set before publishing starts
  // Written under mu_ in publish(); read lock-free by caches (generation_) and anyone (version_).
  std::atomic<uint64_t> generation_{1};
  std::atomic<int64_t> version_{0};
};

// A worker's view of the registry. Not thread-safe: one per worker thread.
class SnapshotCache {
 public:
  // Registers a slot named `worker` (shown by servedVersions()) and loads the current snapshot.
  SnapshotCache(SnapshotRegistry& registry, std::string worker);
  ~SnapshotCache();
  SnapshotCache(const SnapshotCache&) = delete;
  SnapshotCache& operator=(const SnapshotCache&) = delete;

  // The newest published snapshot, never null. Fast path: one acquire load and a compare. The
  // reference stays valid until the next call; copy it to pin the snapshot for a request.
  const SnapshotConstSharedPtr& current() {
    if (registry_.generation_.load(std::memory_order_acquire) != generation_) [[unlikely]] {
      refresh();
    }
    return snapshot_;
  }

 private:
  void refresh();

  SnapshotRegistry& registry_;
  std::list<SnapshotRegistry::WorkerSlot>::iterator slot_;
  SnapshotConstSharedPtr snapshot_;
  uint64_t generation_ = 0;
};

}  // namespace turnpike::proxy
