#include "proxy/tls/ticket_keys.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstring>
#include <stdexcept>

namespace turnpike::proxy::tls {
namespace {

int exDataIndex() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

TicketKeys::Key freshKey(TicketKeys::Clock::time_point now) {
  TicketKeys::Key key;
  if (RAND_bytes(key.name.data(), static_cast<int>(key.name.size())) != 1 ||
      RAND_bytes(key.aes.data(), static_cast<int>(key.aes.size())) != 1 ||
      RAND_bytes(key.hmac.data(), static_cast<int>(key.hmac.size())) != 1) {
    throw std::runtime_error("the system random source failed");
  }
  key.created = now;
  return key;
}

bool setMacKey(EVP_MAC_CTX* mac, TicketKeys::Key& key) {
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key.hmac.data(), key.hmac.size()),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_end()};
  return EVP_MAC_CTX_set_params(mac, params) == 1;
}

// OpenSSL's ticket key callback: 1 = sealed or opened with the current key, 2 = opened with the
// previous key (issue a new ticket), 0 = unknown key (full handshake), -1 = failure.
int onTicket(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
             EVP_MAC_CTX* mac, int seal) {
  // Found through the connection: after the ClientHello callback, SSL_get_SSL_CTX() is the
  // certificate's context, not the listener's that OpenSSL takes this callback from.
  auto* keys = static_cast<TicketKeys*>(SSL_get_ex_data(ssl, exDataIndex()));
  if (keys == nullptr) return -1;
  if (seal == 1) {
    TicketKeys::Key key = keys->sealingKey(TicketKeys::Clock::now());
    std::memcpy(name, key.name.data(), key.name.size());
    if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1 ||
        EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1 ||
        !setMacKey(mac, key)) {
      return -1;
    }
    return 1;
  }
  auto found = keys->openingKey(name);
  if (!found) return 0;
  auto& [key, current] = *found;
  if (EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key.aes.data(), iv) != 1 ||
      !setMacKey(mac, key)) {
    return -1;
  }
  return current ? 1 : 2;
}

}  // namespace

TicketKeys::TicketKeys(Clock::duration rotation)
    : rotation_(rotation), current_(freshKey(Clock::now())) {}

bool TicketKeys::install(SSL_CTX* ctx) {
  return SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, onTicket) == 1;
}

bool TicketKeys::attach(SSL* ssl) { return SSL_set_ex_data(ssl, exDataIndex(), this) == 1; }

TicketKeys::Key TicketKeys::sealingKey(Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (now - current_.created >= rotation_) {
    previous_ = current_;
    current_ = freshKey(now);
  }
  return current_;
}

std::optional<std::pair<TicketKeys::Key, bool>> TicketKeys::openingKey(
    const unsigned char* name) const {
  std::lock_guard lock(mu_);
  if (std::memcmp(name, current_.name.data(), current_.name.size()) == 0) {
    return std::pair(current_, true);
  }
  if (previous_ && std::memcmp(name, previous_->name.data(), previous_->name.size()) == 0) {
    return std::pair(*previous_, false);
  }
  return std::nullopt;
}

void TicketKeys::rotate(Clock::time_point now) {
  std::lock_guard lock(mu_);
  previous_ = current_;
  current_ = freshKey(now);
}

}  // namespace turnpike::proxy::tls
