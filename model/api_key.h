// ApiKey: a consumer's credential. Only the SHA-256 of the key is ever stored; the plaintext
// exists in the create response and nowhere else.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.h"

namespace turnpike::model {

struct ApiKey {
  std::string id;
  std::string consumer_id;
  std::string key_hash;               // lower-case hex SHA-256 of the key
  std::string prefix;                 // first 8 characters of the key, for display ("tpk_AbC1")
  std::optional<int64_t> expires_at;  // Unix seconds; none = never
  std::vector<std::string> tags;
  int64_t created_at = 0;

  bool operator==(const ApiKey&) const = default;
};

// What a client may send to POST /consumers/{c}/keys.
struct NewApiKey {
  std::string id;  // optional UUID
  std::string
      key;  // optional caller-supplied key (>= 20 printable chars, no spaces); empty = generate
  std::optional<int64_t> expires_at;
  std::vector<std::string> tags;
};

Result<NewApiKey> parseNewApiKey(const nlohmann::json& body);

// {"id","consumer","prefix","expires_at","created_at","tags"}; with `with_hash` also "key_hash"
// (config export only). Never the key.
nlohmann::json toJson(const ApiKey& key, bool with_hash = false);

// Decodes an exported key (with "consumer" and "key_hash"), for PUT /config.
Result<ApiKey> parseExportedApiKey(const nlohmann::json& body);

// "tpk_" followed by the base62 encoding of 32 bytes from OpenSSL RAND_bytes.
std::string generateApiKey();

// Lower-case hex SHA-256.
std::string sha256Hex(std::string_view data);

// The display prefix of a key: its first 8 characters.
std::string keyPrefix(std::string_view key);

// Constant-time equality of two strings of the same length (false when lengths differ).
bool constantTimeEquals(std::string_view a, std::string_view b);

}  // namespace turnpike::model
