// TicketKeys: the keys that seal TLS session tickets (resumption without server-side state),
// shared by every worker of the listener and rotated on a schedule.
//
//   TicketKeys keys(std::chrono::hours(1));
//   keys.install(listener_ctx);   // SSL_CTX_set_tlsext_ticket_key_evp_cb
//   keys.attach(ssl);             // each connection made from listener_ctx
//
// A new ticket is sealed with the current key. A ticket sealed with the previous key still
// resumes, and the client gets a fresh ticket under the current one; older tickets fall back to
// a full handshake. The current key is replaced once it is `rotation` old (checked when a ticket
// is issued), so a ticket resumes for between one and two rotation periods. Keys live only in
// this process's memory: a restart means full handshakes, and nothing on disk can open tickets.
//
// Ticket format: OpenSSL's (RFC 5077, section 4: AES-256-CBC and HMAC-SHA256 under a 16-byte
// key name); the cipher suites the connection itself uses are not involved.
//
// THREAD: any; the keys are guarded by a mutex taken once per ticket issued or opened (a
// handshake, never a request).
#pragma once

#include <openssl/ssl.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>

namespace turnpike::proxy::tls {

class TicketKeys {
 public:
  using Clock = std::chrono::steady_clock;

  struct Key {
    std::array<unsigned char, 16> name{};
    std::array<unsigned char, 32> aes{};
    std::array<unsigned char, 32> hmac{};
    Clock::time_point created;
  };

  explicit TicketKeys(Clock::duration rotation);

  // Makes connections made from `ctx` issue and open tickets with the keys attach()ed to them.
  [[nodiscard]] static bool install(SSL_CTX* ctx);
  // Gives `ssl` these keys. This object must outlive `ssl`.
  [[nodiscard]] bool attach(SSL* ssl);

  // The key to seal a new ticket with at `now`, rotating first when the current one is due.
  Key sealingKey(Clock::time_point now);
  // The key named `name`, and whether it is the current one; nullopt when it is unknown
  // (rotated out, or another process's).
  std::optional<std::pair<Key, bool>> openingKey(const unsigned char* name) const;

  // Replaces the current key now (the current one becomes the previous).
  void rotate(Clock::time_point now);

 private:
  const Clock::duration rotation_;
  mutable std::mutex mu_;
  Key current_;                  // guarded by mu_
  std::optional<Key> previous_;  // guarded by mu_
};

}  // namespace turnpike::proxy::tls
