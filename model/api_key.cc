#include "model/api_key.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <utility>

#include "model/encoding.h"
#include "model/json_reader.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

constexpr std::string_view kKeyPrefix = "tpk_";
constexpr std::size_t kRandomBytes = 32;
// ceil(256 / log2(62)) = 43: enough base62 digits for any 256-bit number.
constexpr std::size_t kBase62Digits = 43;
constexpr char kBase62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr std::size_t kMinKeyLength = 20;
constexpr std::size_t kMaxKeyLength = 256;
constexpr std::size_t kPrefixLength = 8;
constexpr int64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

bool isPrintableNoSpace(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

bool isLowerHex(std::string_view text) {
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

}  // namespace

Result<NewApiKey> parseNewApiKey(const json& body) {
  FieldErrors errors;
  NewApiKey key;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    readId(r, &key.id);
    if (r.readString("key", &key.key)) {
      if (key.key.size() < kMinKeyLength || key.key.size() > kMaxKeyLength ||
          !isPrintableNoSpace(key.key)) {
        r.addError("key", "must be 20 to 256 printable ASCII characters without spaces");
        key.key.clear();
      }
    }
    r.readOptionalInt("expires_at", 1, kMaxInt64, &key.expires_at);
    readTags(r, &key.tags);
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("API key", std::move(errors));
  return key;
}

json toJson(const ApiKey& key, bool with_hash) {
  json out = {{"id", key.id.empty() ? json(nullptr) : json(key.id)},
              {"consumer", key.consumer_id},
              {"prefix", key.prefix},
              {"expires_at", key.expires_at ? json(*key.expires_at) : json(nullptr)},
              {"created_at", key.created_at},
              {"tags", key.tags}};
  if (with_hash) out["key_hash"] = key.key_hash;
  return out;
}

Result<ApiKey> parseExportedApiKey(const json& body) {
  FieldErrors errors;
  ApiKey key;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    readId(r, &key.id);
    if (r.get("consumer") == nullptr) {
      r.addError("consumer", "is required");
    } else if (r.readString("consumer", &key.consumer_id)) {
      if (!checkReference(key.consumer_id, /*allow_at=*/true).empty()) {
        r.addError("consumer", "must be a consumer id (UUID) or username");
      }
    }
    if (r.get("key_hash") == nullptr) {
      r.addError("key_hash", "is required");
    } else if (r.readString("key_hash", &key.key_hash)) {
      if (key.key_hash.size() != 64 || !isLowerHex(key.key_hash)) {
        r.addError("key_hash", "must be 64 lower-case hex digits (SHA-256)");
      }
    }
    if (r.readString("prefix", &key.prefix)) {
      if (key.prefix.size() > kPrefixLength || !isPrintableNoSpace(key.prefix)) {
        r.addError("prefix", "must be up to 8 printable ASCII characters without spaces");
      }
    }
    r.readOptionalInt("expires_at", 1, kMaxInt64, &key.expires_at);
    r.readInt("created_at", 0, kMaxInt64, &key.created_at);
    readTags(r, &key.tags);
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("API key", std::move(errors));
  return key;
}

std::string generateApiKey() {
  std::array<unsigned char, kRandomBytes> number;
  if (RAND_bytes(number.data(), static_cast<int>(number.size())) != 1) {
    // A predictable key is worse than no key: stop rather than hand one out.
    std::fputs("turnpike: RAND_bytes failed\n", stderr);
    std::abort();
  }
  // Base62 of the 256-bit big-endian number by repeated long division, always 43 digits (zero
  // padded): every key has the same length and carries the full 256 bits, with no modulo bias.
  std::string digits;
  digits.reserve(kBase62Digits);
  for (std::size_t i = 0; i < kBase62Digits; ++i) {
    unsigned remainder = 0;
    for (unsigned char& byte : number) {
      unsigned current = remainder * 256 + byte;
      byte = static_cast<unsigned char>(current / 62);
      remainder = current % 62;
    }
    digits.push_back(kBase62[remainder]);
  }
  std::reverse(digits.begin(), digits.end());
  OPENSSL_cleanse(number.data(), number.size());
  return std::string(kKeyPrefix) + digits;
}

std::string sha256Hex(std::string_view data) {
  // Every keyed proxy request hashes its key: fetch the algorithm once (EVP_sha256() in
  // EVP_Digest looks it up in OpenSSL's provider tables on each call) and keep one context per
  // thread, reset for each digest.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  struct ContextDeleter {
    void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
  };
  thread_local const std::unique_ptr<EVP_MD_CTX, ContextDeleter> context(EVP_MD_CTX_new());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (kSha256 == nullptr || context == nullptr ||
      EVP_DigestInit_ex2(context.get(), kSha256, nullptr) != 1 ||
      EVP_DigestUpdate(context.get(), data.data(), data.size()) != 1 ||
      EVP_DigestFinal_ex(context.get(), digest, &length) != 1) {
    // Only a broken OpenSSL fails here; an empty hash matches no stored key.
    return "";
  }
  return hexLower(std::string_view(reinterpret_cast<const char*>(digest), length));
}

std::string keyPrefix(std::string_view key) { return std::string(key.substr(0, kPrefixLength)); }

bool constantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  // Eight bytes at a time (OpenSSL's CRYPTO_memcmp goes byte by byte: 340 instructions for a
  // key, on every proxied request). Every byte is read whatever the others hold; the empty asm
  // keeps the compiler from turning the accumulation into an early exit.
  uint64_t difference = 0;
  std::size_t i = 0;
  for (; i + 8 <= a.size(); i += 8) {
    uint64_t x;
    uint64_t y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    difference |= x ^ y;
    __asm__ volatile("" : "+r"(difference));
  }
  for (; i < a.size(); ++i) {
    difference |= static_cast<uint8_t>(a[i] ^ b[i]);
    __asm__ volatile("" : "+r"(difference));
  }
  return difference == 0;
}

}  // namespace turnpike::model
