#include "model/identity.h"

#include <openssl/rand.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace turnpike::model {
namespace {

constexpr char kHex[] = "0123456789abcdef";

bool isHexDigit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

std::string newUuid() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) {
    // Without a working CSPRNG ids (and keys) could collide or be guessed: stop, do not limp on.
    std::fputs("turnpike: RAND_bytes failed\n", stderr);
    std::abort();
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0x0f];
  }
  return out;
}

bool isUuid(std::string_view text) {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (text[i] != '-') return false;
    } else if (!isHexDigit(text[i])) {
      return false;
    }
  }
  return true;
}

bool isValidName(std::string_view name, bool allow_at) {
  if (name.empty() || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '~' || c == '-' || (allow_at && c == '@');
    if (!ok) return false;
  }
  return !isUuid(name);
}

std::string etagOf(const nlohmann::json& entity) {
  // Objects dump with sorted keys, so equal JSON gives equal text. `replace` keeps dump() from
  // throwing on invalid UTF-8.
  std::string text = entity.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a 64 offset basis
  for (unsigned char c : text) {
    hash ^= c;
    hash *= 0x100000001b3ULL;  // FNV-1a 64 prime
  }
  std::string out = "\"";
  for (int shift = 60; shift >= 0; shift -= 4) out += kHex[(hash >> shift) & 0xf];
  out += '"';
  return out;
}

}  // namespace turnpike::model
