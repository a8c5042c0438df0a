#include "storage/keyring.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "model/api_key.h"
#include "model/encoding.h"

namespace turnpike::storage {
namespace {

using model::Error;
using model::Result;

constexpr std::string_view kVersion = "v1";
constexpr std::size_t kNonceBytes = 12;
constexpr std::size_t kTagBytes = 16;
constexpr std::string_view kIdLabel = "turnpike keyring id\n";

struct CipherContextDeleter {
  void operator()(EVP_CIPHER_CTX* context) const { EVP_CIPHER_CTX_free(context); }
};
using CipherContext = std::unique_ptr<EVP_CIPHER_CTX, CipherContextDeleter>;

[[noreturn]] void fail(const char* what) {
  // A secret is never stored unsealed, nor sealed with a predictable nonce: stop instead.
  std::fprintf(stderr, "turnpike: keyring: %s failed\n", what);
  std::abort();
}

// The first 8 bytes of SHA-256(label | key), in hex.
std::string keyId(const Keyring::Key& key) {
  std::string input(kIdLabel);
  input.append(reinterpret_cast<const char*>(key.data()), key.size());
  std::string digest = model::sha256Hex(input);
  OPENSSL_cleanse(input.data(), input.size());
  if (digest.empty()) fail("SHA-256");
  return digest.substr(0, 16);
}

Result<Keyring> parseKeyFile(const std::filesystem::path& path, std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  std::optional<std::string> bytes = model::base64Decode(text);
  OPENSSL_cleanse(text.data(), text.size());
  if (!bytes || bytes->size() != Keyring::kKeyBytes) {
    if (bytes) OPENSSL_cleanse(bytes->data(), bytes->size());
    return Error::internal("keyring file " + path.string() +
                           " must hold 32 bytes in base64 on one line (openssl rand -base64 32)");
  }
  Keyring::Key key;
  std::memcpy(key.data(), bytes->data(), key.size());
  OPENSSL_cleanse(bytes->data(), bytes->size());
  Keyring keyring(key);
  OPENSSL_cleanse(key.data(), key.size());
  return keyring;
}

// Writes `text` to a new file at `path` (mode 0600, never over an existing file) and syncs the
// file and its folder. false with errno set on failure; EEXIST when another process made it.
bool createFile(const std::filesystem::path& path, std::string_view text) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    errno = saved;
    return false;
  }
  std::filesystem::path folder = path.parent_path();
  if (folder.empty()) folder = ".";
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return true;
}

}  // namespace

Keyring::Keyring(const Key& key) : key_(key), id_(keyId(key)) {}

Keyring::~Keyring() { OPENSSL_cleanse(key_.data(), key_.size()); }

Keyring::Keyring(const Keyring& other) = default;
Keyring& Keyring::operator=(const Keyring& other) = default;

Result<Keyring> Keyring::load(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Error::internal("cannot read the keyring file " + path.string() + ": " +
                           std::strerror(errno));
  }
  std::ostringstream text;
  text << in.rdbuf();
  std::string contents = text.str();
  return parseKeyFile(path, std::move(contents));
}

Result<Keyring> Keyring::loadOrCreate(const std::filesystem::path& path, bool* created) {
  if (created != nullptr) *created = false;
  std::error_code ec;
  if (std::filesystem::exists(path, ec)) return load(path);
  Key key;
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) fail("RAND_bytes");
  std::string line =
      model::base64Encode(std::string_view(reinterpret_cast<const char*>(key.data()), key.size()));
  line.push_back('\n');
  const bool made = createFile(path, line);
  const int saved = errno;
  OPENSSL_cleanse(line.data(), line.size());
  if (!made) {
    OPENSSL_cleanse(key.data(), key.size());
    if (saved == EEXIST) return load(path);  // another process made it first: use theirs
    return Error::internal("cannot create the keyring file " + path.string() + ": " +
                           std::strerror(saved));
  }
  if (created != nullptr) *created = true;
  Keyring keyring(key);
  OPENSSL_cleanse(key.data(), key.size());
  return keyring;
}

std::string Keyring::seal(std::string_view secret, std::string_view owner_id) const {
  std::string box(kNonceBytes + secret.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(box.data());
  auto* ciphertext = nonce + kNonceBytes;
  if (RAND_bytes(nonce, static_cast<int>(kNonceBytes)) != 1) fail("RAND_bytes");
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  int final_length = 0;
  if (!context ||
      EVP_EncryptInit_ex2(context.get(), EVP_aes_256_gcm(), key_.data(), nonce, nullptr) != 1 ||
      EVP_EncryptUpdate(context.get(), nullptr, &length,
                        reinterpret_cast<const unsigned char*>(owner_id.data()),
                        static_cast<int>(owner_id.size())) != 1 ||
      EVP_EncryptUpdate(context.get(), ciphertext, &length,
                        reinterpret_cast<const unsigned char*>(secret.data()),
                        static_cast<int>(secret.size())) != 1 ||
      EVP_EncryptFinal_ex(context.get(), ciphertext + length, &final_length) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes),
                          ciphertext + secret.size()) != 1) {
    fail("AES-256-GCM");
  }
  std::string sealed(kVersion);
  sealed += ':';
  sealed += id_;
  sealed += ':';
  sealed += model::base64Encode(box);
  return sealed;
}

std::optional<std::string> Keyring::sealedBy(std::string_view sealed) {
  const std::size_t first = sealed.find(':');
  if (first == std::string_view::npos || sealed.substr(0, first) != kVersion) return std::nullopt;
  const std::size_t second = sealed.find(':', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  return std::string(sealed.substr(first + 1, second - first - 1));
}

Result<std::string> Keyring::unseal(std::string_view sealed, std::string_view owner_id) const {
  const std::optional<std::string> by = sealedBy(sealed);
  if (!by) return Error::invalid("not a sealed secret (expected v1:<keyring id>:<base64>)");
  if (*by != id_) {
    return Error::invalid("sealed under keyring " + *by + ", but this keyring is " + id_);
  }
  std::optional<std::string> box = model::base64Decode(sealed.substr(sealed.rfind(':') + 1));
  if (!box || box->size() < kNonceBytes + kTagBytes) {
    return Error::invalid("not a sealed secret (its body is not base64 of nonce, data and tag)");
  }
  const auto* nonce = reinterpret_cast<const unsigned char*>(box->data());
  const auto* ciphertext = nonce + kNonceBytes;
  const std::size_t size = box->size() - kNonceBytes - kTagBytes;
  std::string secret(size, '\0');
  auto* plain = reinterpret_cast<unsigned char*>(secret.data());
  CipherContext context(EVP_CIPHER_CTX_new());
  int length = 0;
  int final_length = 0;
  // The tag is checked by EVP_DecryptFinal_ex, in constant time.
  unsigned char tag[kTagBytes];
  std::memcpy(tag, ciphertext + size, kTagBytes);
  const bool opened =
      context &&
      EVP_DecryptInit_ex2(context.get(), EVP_aes_256_gcm(), key_.data(), nonce, nullptr) == 1 &&
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), tag) ==
          1 &&
      EVP_DecryptUpdate(context.get(), nullptr, &length,
                        reinterpret_cast<const unsigned char*>(owner_id.data()),
                        static_cast<int>(owner_id.size())) == 1 &&
      EVP_DecryptUpdate(context.get(), plain, &length, ciphertext, static_cast<int>(size)) == 1 &&
      EVP_DecryptFinal_ex(context.get(), plain + length, &final_length) == 1;
  if (!opened) {
    OPENSSL_cleanse(secret.data(), secret.size());
    return Error::invalid("the sealed secret does not open: altered, or sealed for another owner");
  }
  return secret;
}

}  // namespace turnpike::storage
