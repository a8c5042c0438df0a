// Certificate: what the TLS listener presents for a set of server names (SNI), with its private
// key and, optionally, how it asks clients for their certificates.
//
//   Result<Certificate> c = parseCertificate(body);   // PEMs parsed, key checked against the leaf
//   if (!c) return problem(c.error());                // every error names its field
//   store.seal(c->key_pem) ...                        // the key never reaches the database as text
//
// parseCertificate fills the read-only fields (subject, issuer, validity, key type, SHA-256
// fingerprint) from the leaf certificate. toJson never writes the key in any form; the store
// decides where its sealed form goes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/result.h"

namespace turnpike::model {

enum class ClientVerify { kOff, kOptional, kRequired };

// Limits on what one certificate may carry (PEM text sizes).
inline constexpr std::size_t kMaxCertificatePemBytes = 64 * 1024;  // the chain
inline constexpr std::size_t kMaxKeyPemBytes = 16 * 1024;
inline constexpr std::size_t kMaxClientCaPemBytes = 256 * 1024;
inline constexpr std::size_t kMaxSnis = 100;
inline constexpr int kMinRsaBits = 2048;

struct Certificate {
  std::string id;
  std::string name;  // unique; same charset as Service::name
  std::string cert;  // PEM: the leaf first, then its chain
  // The private key in PEM (PKCS#8 or traditional), in plain text only between the parse of a
  // write and its sealing by the store; empty when read back.
  std::string key_pem;
  std::vector<std::string> snis;  // lower case; "api.example.com" or "*.example.org"
  bool is_default = false;        // "default": served when no SNI matches (one at most)
  ClientVerify client_verify = ClientVerify::kOff;
  std::optional<std::string> client_ca;  // PEM; required unless client_verify is off
  std::vector<std::string> tags;

  // Read-only, from the leaf certificate.
  std::string subject;  // RFC 2253 ("CN=api.example.com,O=Example")
  std::string issuer;
  int64_t not_before = 0;  // Unix seconds
  int64_t not_after = 0;
  std::string key_type;            // "EC P-256", "RSA 2048", "Ed25519"
  std::string fingerprint_sha256;  // lower-case hex of the DER leaf

  int64_t created_at = 0;
  int64_t updated_at = 0;

  bool operator==(const Certificate&) const = default;
};

// The admin form without the key: "key" is never written.
nlohmann::json toJson(const Certificate& certificate);

// A write: every field checked, "key" required (the store keeps the existing one on a PATCH
// that omits it); the PEMs parsed with OpenSSL and the key matched against the leaf.
// `key_required`: false when the caller supplies the key some other way (a stored sealed key).
Result<Certificate> parseCertificate(const nlohmann::json& body, bool key_required = true);

// The read-only fields from `cert_pem`'s leaf into `out`; an error naming "cert" when it does
// not parse. Used again when a stored certificate is loaded.
Status inspectCertificate(std::string_view cert_pem, Certificate& out);

// Whether `key_pem` is the private key of `cert_pem`'s leaf: "" when it is, else why not (for
// the "key" field).
std::string checkKeyMatches(std::string_view cert_pem, std::string_view key_pem);

std::string_view toString(ClientVerify verify);

// True when `sni` matches `host` (both lower case): equal, or `sni` is "*.rest" and `host` is
// one label followed by ".rest".
bool sniMatches(std::string_view sni, std::string_view host);

}  // namespace turnpike::model
