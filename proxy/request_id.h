// RequestIdGenerator: X-Request-Id values for requests that arrive without one. 32 lower-case
// hex digits (128 bits) from a per-worker xoshiro256** seeded from std::random_device: unique
// enough to correlate logs, cheap (no syscall, no lock). Not a secret and not for security.
//
// THREAD: one per worker; not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace turnpike::proxy {

class RequestIdGenerator {
 public:
  RequestIdGenerator();
  // Replaces `out` with a new id (reuses its capacity).
  void next(std::string& out);

 private:
  uint64_t nextWord();
  std::array<uint64_t, 4> state_;
};

}  // namespace turnpike::proxy
