#include "admin/admin_auth.h"

#include <strings.h>

#include "model/api_key.h"
#include "storage/config_store.h"

namespace turnpike::admin {
namespace {

constexpr std::string_view kScheme = "Bearer ";

}  // namespace

bool AdminAuth::allows(std::string_view authorization_header) const {
  if (hash_.empty()) return false;  // no token configured: nobody gets in
  // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
  if (authorization_header.size() <= kScheme.size() ||
      ::strncasecmp(authorization_header.data(), kScheme.data(), kScheme.size()) != 0) {
    return false;
  }
  std::string_view token = authorization_header.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return false;
  // Comparing digests of equal length in constant time: the stored hash leaks nothing about
  // the token through timing, and neither does the presented token's length.
  return model::constantTimeEquals(model::sha256Hex(token), hash_);
}

model::Result<AdminTokenSetup> setUpAdminToken(storage::ConfigStore& store,
                                               std::string_view env_token) {
  auto stored = store.adminTokenHash();
  if (!stored) return stored.error();

  if (!env_token.empty()) {
    std::string hash = model::sha256Hex(env_token);
    if (*stored != hash) {
      auto saved = store.setAdminTokenHash(hash);
      if (!saved) return saved.error();
    }
    return AdminTokenSetup{std::move(hash), ""};
  }

  if (stored->has_value()) return AdminTokenSetup{**stored, ""};

  // generateApiKey() is "tpk_" + base62 of 32 RAND_bytes; an admin token differs only in prefix,
  // so that a leaked string says which kind of secret it is.
  std::string token = "tpa_" + model::generateApiKey().substr(4);
  std::string hash = model::sha256Hex(token);
  auto saved = store.setAdminTokenHash(hash);
  if (!saved) return saved.error();
  return AdminTokenSetup{std::move(hash), std::move(token)};
}

}  // namespace turnpike::admin
