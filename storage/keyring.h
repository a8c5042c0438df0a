// Keyring: the key-encryption key under which Turnpike stores its secrets (certificates' private
// keys, JWT providers' HMAC secrets), and the sealing of one secret with it.
//
//   model::Result<Keyring> keyring = Keyring::loadOrCreate(db_path.parent_path() / "keyring");
//   std::string stored = keyring->seal(pem_key, certificate_id);   // what the database keeps
//   model::Result<std::string> pem = keyring->unseal(stored, certificate_id);
//
// The file holds 32 random bytes in base64 on one line (`openssl rand -base64 32` makes one);
// loadOrCreate makes it with mode 0600 when it is absent. A sealed secret is AES-256-GCM with a
// random 96-bit nonce and the owning entity's id as associated data, so a sealed value copied to
// another entity, altered, or opened under another keyring does not open:
//   "v1:" <keyring id> ":" base64(nonce | ciphertext | 16-byte tag)
// The keyring id (16 hex digits of a SHA-256 over the key) names the key without revealing it,
// so that "sealed under another keyring" is a clear error, not a failed decryption.
//
// THREAD: a Keyring is immutable after loading; seal and unseal may run on any thread.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "model/result.h"

namespace turnpike::storage {

class Keyring {
 public:
  static constexpr std::size_t kKeyBytes = 32;
  using Key = std::array<unsigned char, kKeyBytes>;

  // The keyring in `path`: an error naming the file when it cannot be read or does not hold
  // exactly 32 bytes of base64.
  static model::Result<Keyring> load(const std::filesystem::path& path);
  // As load, but when `path` does not exist, makes it (32 bytes from the OpenSSL CSPRNG, mode
  // 0600, written and synced before this returns). `created` is set when it did.
  static model::Result<Keyring> loadOrCreate(const std::filesystem::path& path,
                                             bool* created = nullptr);
  explicit Keyring(const Key& key);
  ~Keyring();
  Keyring(const Keyring& other);
  Keyring& operator=(const Keyring& other);

  const std::string& id() const { return id_; }

  // `secret` sealed for the entity `owner_id` (the associated data). Aborts the process when
  // the CSPRNG or the cipher fails: a secret is never stored unsealed.
  std::string seal(std::string_view secret, std::string_view owner_id) const;
  // The secret back, or an error: sealed under another keyring (naming both ids), not a sealed
  // value, or it does not open (altered, or sealed for another owner).
  model::Result<std::string> unseal(std::string_view sealed, std::string_view owner_id) const;

  // The keyring id a sealed value names, or nullopt when it is not a sealed value.
  static std::optional<std::string> sealedBy(std::string_view sealed);

 private:
  Key key_;
  std::string id_;
};

}  // namespace turnpike::storage
