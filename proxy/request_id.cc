#include "proxy/request_id.h"

#include <random>

namespace turnpike::proxy {

namespace {

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

RequestIdGenerator::RequestIdGenerator() {
  std::random_device device;
  for (uint64_t& word : state_) {
    word = (static_cast<uint64_t>(device()) << 32) ^ device();
  }
  if ((state_[0] | state_[1] | state_[2] | state_[3]) == 0) state_[0] = 1;
}

uint64_t RequestIdGenerator::nextWord() {
  const uint64_t result = rotl(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = rotl(state_[3], 45);
  return result;
}

void RequestIdGenerator::next(std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.resize(32);
  for (int half = 0; half < 2; ++half) {
    uint64_t word = nextWord();
    for (int i = 0; i < 16; ++i) {
      out[half * 16 + i] = kHex[word & 0xf];
      word >>= 4;
    }
  }
}

}  // namespace turnpike::proxy
