// Clock reads for the request path.
//
//   deadline.due = coarseNow() + kCoarseClockLag + timeout;  // never earlier than asked
//   const auto started = Clock::now();                       // latencies need the fine clock
//
// On this project's VMs a std::chrono::steady_clock::now() costs about 24 ns (rdtsc and the
// vDSO's scaling), and a proxied request read the clock 14 times: a third of a microsecond.
// coarseNow() reads CLOCK_MONOTONIC_COARSE, the time of the kernel's last tick: about 5 ns, on
// the same epoch as steady_clock (both are CLOCK_MONOTONIC on Linux), never ahead of it and
// behind by up to a tick (1-4 ms; clock_getres() says which), a little more just after the
// machine was idle (a tickless kernel catches up on its first tick). For deadlines, which the
// worker's sweep enforces every 100 ms anyway (add kCoarseClockLag so that none fires early),
// idle times and health windows; not for latencies.
//
// THREAD: any.
#pragma once

#include <time.h>

#include <chrono>

namespace turnpike::proxy {

// A bound on how far coarseNow() lags steady_clock::now(): 2.5 ticks of the usual 4 ms.
inline constexpr std::chrono::milliseconds kCoarseClockLag{10};

inline std::chrono::steady_clock::time_point coarseNow() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(now.tv_sec) + std::chrono::nanoseconds(now.tv_nsec)));
}

}  // namespace turnpike::proxy
