// Certificate: what the TLS listener presents for a set of server names (SNI), with its private
// key and, optionally, how it asks clients for their certificates.
//
//   Result<Certificate> c = parseCertificate(body);   // PEMs parsed, key checked against the leaf
//   if (!c) return problem(c.error());                // every error names its field
//   store.create(*c, ...);                            // seals key_pem into key_encrypted
//
// parseCertificate fills the read-only fields (subject, issuer, validity, key type, SHA-256
// fingerprint) from the leaf certificate. The key has two forms: "key", the PEM a client sends,
// and "key_encrypted", the key sealed by the store's keyring (storage::Keyring), which is what
// the database, the history and GET /config hold. The admin API's answers carry neither.
#pragma once

#include <openssl/x509.h>

#include <cstdint>
#include <memory>
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
  // The private key sealed by the store's keyring ("v1:<keyring id>:<base64>", the certificate
  // id as associated data): what is stored and exported. Empty until the store sealed key_pem,
  // or when a write leaves the key to the stored certificate.
  std::string key_encrypted;
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

// The admin form: never "key". With `with_sealed_key`, also "key_encrypted" (when there is
// one): the stored form, for the database, the history and GET /config.
nlohmann::json toJson(const Certificate& certificate, bool with_sealed_key = false);

// A write: every field checked, the PEMs parsed with OpenSSL and "key" matched against the
// leaf. "key_encrypted" (a sealed key, as exported) is the alternative to "key"; only its form
// is checked here, since only the store's keyring can open it. Both at once is an error on
// "key_encrypted". `key_required`: one of them must be given (false when the caller supplies
// the key some other way: the store keeps a stored certificate's key when a write omits it).
Result<Certificate> parseCertificate(const nlohmann::json& body, bool key_required = true);

// Whether `text` has the form of a sealed secret: "v1:" 16 lower-case hex digits ":" and the
// canonical base64 of at least a nonce and a tag. "" when it has, else why not.
std::string checkSealedForm(std::string_view text);

// The read-only fields from `cert_pem`'s leaf into `out`; an error naming "cert" when it does
// not parse. Used again when a stored certificate is loaded.
Status inspectCertificate(std::string_view cert_pem, Certificate& out);

struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
using X509Ptr = std::unique_ptr<X509, X509Free>;

// Every certificate in `pem`, in order; empty when one of them does not parse. (The TLS
// contexts read stored chains and CA bundles with it too.)
std::vector<X509Ptr> readCertificates(std::string_view pem);

// Whether `pem` holds one or more PEM certificates that all parse (a trust bundle such as
// `client_ca`): "" when it does, else the message for the field.
std::string checkCertificatesPem(std::string_view pem);

// Whether `key_pem` is the private key of `cert_pem`'s leaf: "" when it is, else why not (for
// the "key" field).
std::string checkKeyMatches(std::string_view cert_pem, std::string_view key_pem);

std::string_view toString(ClientVerify verify);

// True when `sni` matches `host` (both lower case): equal, or `sni` is "*.rest" and `host` is
// one label followed by ".rest".
bool sniMatches(std::string_view sni, std::string_view host);

}  // namespace turnpike::model
