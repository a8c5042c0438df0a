// Process statistics read from /proc, for tests that check a process gives back what it took:
// open file descriptors, resident memory, and its open-files limit.
//
//   const int fds = openFdCount(tp.pid());
//   ... a fault ...
//   EXPECT_TRUE(fdCountSettles(tp.pid(), fds + 3)) << "leaked descriptors";
//   EXPECT_LT(rssBytes(tp.pid()), rss + 8 * kMiB);
//
// Linux only. Every function may be called from any thread; none throws.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>

namespace turnpike::test_support {

inline constexpr uint64_t kMiB = 1024 * 1024;

// Entries of /proc/<pid>/fd; -1 when the process is gone or the directory unreadable.
int openFdCount(pid_t pid);

// VmRSS of /proc/<pid>/status in bytes; 0 when unreadable.
uint64_t rssBytes(pid_t pid);
// VmHWM (the peak of VmRSS) in bytes; 0 when unreadable.
uint64_t peakRssBytes(pid_t pid);

// True while `pid` exists and is not a zombie (a crashed child that was not reaped yet counts
// as dead).
bool processAlive(pid_t pid);

// The soft and hard "Max open files" of /proc/<pid>/limits; nullopt when unreadable.
// "unlimited" is reported as UINT64_MAX.
struct FdLimits {
  uint64_t soft = 0;
  uint64_t hard = 0;
};
std::optional<FdLimits> fdLimits(pid_t pid);

// Polls openFdCount(pid) every 20 ms until it is at most `limit` or `timeout` passes
// (descriptors of closed connections go away asynchronously). Fails with the last count.
::testing::AssertionResult fdCountSettles(
    pid_t pid, int limit, std::chrono::milliseconds timeout = std::chrono::seconds(10));

// The fd count once it has stopped changing: two readings `quiet` apart that agree, within
// `timeout` (else the last reading). A baseline taken while connections still close would be
// too high and hide a leak.
int settledFdCount(pid_t pid, std::chrono::milliseconds quiet = std::chrono::milliseconds(200),
                   std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Whether a process's RSS comes back down after memory is freed. Not under AddressSanitizer
// (this build and the binary under test are built alike): its quarantine keeps freed blocks
// resident, up to 256 MiB, so RSS after a burst says nothing about a leak there; LeakSanitizer
// checks leaks in that build instead.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssReflectsFrees = false;
#else
inline constexpr bool kRssReflectsFrees = true;
#endif

// Raises this process's soft RLIMIT_NOFILE to at least `wanted` (bounded by the hard limit);
// returns the soft limit in effect afterwards.
uint64_t raiseOwnFdLimit(uint64_t wanted);

}  // namespace turnpike::test_support
