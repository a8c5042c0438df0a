#include "proxy/request_id.h"

#include <cstring>
#include <random>

namespace turnpike::proxy {

namespace {

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// The eight nibbles of `value` as lower-case hex digits, one per byte: all eight at once.
uint64_t hexDigits(uint32_t value) {
  uint64_t x = value;
  x = (x | (x << 16)) & 0x0000FFFF0000FFFFULL;
  x = (x | (x << 8)) & 0x00FF00FF00FF00FFULL;
  x = (x | (x << 4)) & 0x0F0F0F0F0F0F0F0FULL;  // a nibble per byte
  // 1 in each byte whose nibble is 10 or more: those become 'a'..'f' instead of '0' + n.
  const uint64_t letters = ((x + 0x0606060606060606ULL) >> 4) & 0x0101010101010101ULL;
  return x + 0x3030303030303030ULL + letters * ('a' - '0' - 10);
}

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
  out.resize(32);
  for (int i = 0; i < 2; ++i) {
    const uint64_t word = nextWord();
    const uint64_t low = hexDigits(static_cast<uint32_t>(word));
    const uint64_t high = hexDigits(static_cast<uint32_t>(word >> 32));
    std::memcpy(out.data() + i * 16, &low, 8);
    std::memcpy(out.data() + i * 16 + 8, &high, 8);
  }
}

}  // namespace turnpike::proxy
