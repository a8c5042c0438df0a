// AdminAuth: checks `Authorization: Bearer <token>` against the stored SHA-256 of the admin
// token, in constant time. Never holds or logs the token itself.
#pragma once

#include <string>
#include <string_view>

#include "model/result.h"

namespace turnpike::storage {
class ConfigStore;
}

namespace turnpike::admin {

class AdminAuth {
 public:
  explicit AdminAuth(std::string token_sha256_hex) : hash_(std::move(token_sha256_hex)) {}

  // True when `authorization_header` is "Bearer <t>" and sha256(t) equals the stored hash.
  bool allows(std::string_view authorization_header) const;

 private:
  std::string hash_;
};

struct AdminTokenSetup {
  std::string token_hash;
  std::string new_token;  // non-empty only when a token was generated now (print it once)
};

// Decides the admin token at start: `env_token` (TURNPIKE_ADMIN_TOKEN) when non-empty, stored
// hashed (replacing any earlier hash); else the hash already in the store; else a new random
// token ("tpa_" + base62 of 32 random bytes) whose hash is stored and which is returned once.
model::Result<AdminTokenSetup> setUpAdminToken(storage::ConfigStore& store,
                                               std::string_view env_token);

}  // namespace turnpike::admin
