#include "proxy/snapshot_registry.h"

#include <algorithm>
#include <cassert>

#include "proxy/snapshot_builder.h"

namespace turnpike::proxy {

SnapshotRegistry::SnapshotRegistry(SnapshotConstSharedPtr initial)
    : current_(initial ? std::move(initial) : SnapshotBuilder::empty()) {
  version_.store(current_->version(), std::memory_order_release);
}

SnapshotRegistry::~SnapshotRegistry() {
  std::lock_guard lock(mu_);
  assert(workers_.empty() && "a SnapshotCache outlived its SnapshotRegistry");
}

bool SnapshotRegistry::publish(SnapshotConstSharedPtr snapshot) {
  if (!snapshot) return false;
  std::vector<SnapshotConstSharedPtr> released;  // freed after unlocking
  int64_t version = snapshot->version();
  {
    std::lock_guard lock(mu_);
    if (version < current_->version()) return false;
    uint64_t old_generation = generation_.load(std::memory_order_relaxed);
    retired_.push_back({old_generation, std::exchange(current_, std::move(snapshot))});
    version_.store(version, std::memory_order_release);
    generation_.store(old_generation + 1, std::memory_order_release);
    pruneRetiredLocked(released);
  }
  released.clear();
  if (listener_) listener_(version);
  return true;
}

SnapshotConstSharedPtr SnapshotRegistry::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::vector<WorkerVersion> SnapshotRegistry::servedVersions() const {
  std::lock_guard lock(mu_);
  std::vector<WorkerVersion> out;
  out.reserve(workers_.size());
  for (const WorkerSlot& slot : workers_) out.push_back({slot.name, slot.version});
  return out;
}

int64_t SnapshotRegistry::minServedVersion() const {
  std::lock_guard lock(mu_);
  if (workers_.empty()) return current_->version();
  int64_t lowest = workers_.front().version;
  for (const WorkerSlot& slot : workers_) lowest = std::min(lowest, slot.version);
  return lowest;
}

void SnapshotRegistry::collectRetired() {
  std::vector<SnapshotConstSharedPtr> released;
  std::lock_guard lock(mu_);
  pruneRetiredLocked(released);
  // `released` is destroyed after the lock: it is declared before the guard.
}

std::size_t SnapshotRegistry::retiredCount() const {
  std::lock_guard lock(mu_);
  return retired_.size();
}

void SnapshotRegistry::setPublishListener(std::function<void(int64_t version)> listener) {
  listener_ = std::move(listener);
}

void SnapshotRegistry::pruneRetiredLocked(std::vector<SnapshotConstSharedPtr>& released) {
  auto held = [&](const Retired& retired) {
    return std::any_of(workers_.begin(), workers_.end(), [&](const WorkerSlot& slot) {
      return slot.generation == retired.generation;
    });
  };
  auto keep = std::partition(retired_.begin(), retired_.end(), held);
  for (auto it = keep; it != retired_.end(); ++it) released.push_back(std::move(it->snapshot));
  retired_.erase(keep, retired_.end());
}

SnapshotCache::SnapshotCache(SnapshotRegistry& registry, std::string worker) : registry_(registry) {
  std::lock_guard lock(registry_.mu_);
  slot_ = registry_.workers_.insert(registry_.workers_.end(),
                                    SnapshotRegistry::WorkerSlot{std::move(worker), 0, 0});
  snapshot_ = registry_.current_;
  generation_ = registry_.generation_.load(std::memory_order_relaxed);
  slot_->generation = generation_;
  slot_->version = snapshot_->version();
}

SnapshotCache::~SnapshotCache() {
  std::lock_guard lock(registry_.mu_);
  // snapshot_ is released after this body; the registry still holds it (as current or retired),
  // and the next prune on the control thread frees it.
  registry_.workers_.erase(slot_);
}

void SnapshotCache::refresh() {
  std::lock_guard lock(registry_.mu_);
  // Dropping the old reference here, under the lock, while the registry's retired list still
  // holds it (our slot still names its generation), makes sure it is not freed on this thread.
  snapshot_ = registry_.current_;
  generation_ = registry_.generation_.load(std::memory_order_relaxed);
  slot_->generation = generation_;
  slot_->version = snapshot_->version();
}

}  // namespace turnpike::proxy
