// Counts global operator new calls on the current thread while enabled (the replacement lives in
// allocation_counter.cc, its own translation unit so that no caller sees it inlined).
#pragma once

namespace turnpike::proxy::testing {

// Counts allocations made by `fn` on this thread.
template <class Fn>
int countAllocations(Fn&& fn);

void startCountingAllocations();
int stopCountingAllocations();  // returns the count since start

template <class Fn>
int countAllocations(Fn&& fn) {
  startCountingAllocations();
  fn();
  return stopCountingAllocations();
}

}  // namespace turnpike::proxy::testing
