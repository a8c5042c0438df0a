#include "model/certificate.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <ctime>
#include <memory>
#include <utility>

#include "model/encoding.h"
#include "model/json_reader.h"
#include "model/validation.h"

namespace turnpike::model {
namespace {

using nlohmann::json;

struct OpensslDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using Bio = std::unique_ptr<BIO, OpensslDeleter>;
using KeyPtr = std::unique_ptr<EVP_PKEY, OpensslDeleter>;

constexpr std::string_view kBeginCertificate = "-----BEGIN CERTIFICATE-----";

Bio memoryBio(std::string_view text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// OpenSSL's password callback: no passphrase, ever (the default one would prompt on a
// terminal). An encrypted key therefore fails to load, and the error says why.
int noPassphrase(char*, int, int, void*) { return -1; }

KeyPtr readKey(std::string_view pem) {
  Bio bio = memoryBio(pem);
  KeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassphrase, nullptr) : nullptr);
  ERR_clear_error();
  return key;
}

std::string nameText(const X509_NAME* name) {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return "";
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

std::optional<int64_t> unixTime(const ASN1_TIME* time) {
  std::tm tm{};
  if (time == nullptr || ASN1_TIME_to_tm(time, &tm) != 1) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::string keyType(EVP_PKEY* key) {
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
      return "RSA " + std::to_string(EVP_PKEY_get_bits(key));
    case EVP_PKEY_EC: {
      char group[80] = {};
      std::size_t length = 0;
      if (EVP_PKEY_get_group_name(key, group, sizeof group, &length) != 1) return "EC";
      const char* nist = EC_curve_nid2nist(OBJ_sn2nid(group));
      return std::string("EC ") + (nist != nullptr ? nist : group);
    }
    case EVP_PKEY_ED25519:
      return "Ed25519";
    case EVP_PKEY_ED448:
      return "Ed448";
    default: {
      const char* name = OBJ_nid2sn(EVP_PKEY_get_base_id(key));
      return name != nullptr ? name : "unknown";
    }
  }
}

// "" when `key` is strong enough to serve: RSA of kMinRsaBits or more, or any EC or EdDSA key.
std::string checkKeyStrength(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA && EVP_PKEY_get_bits(key) < kMinRsaBits) {
    return "is an RSA key of " + std::to_string(EVP_PKEY_get_bits(key)) + " bits; at least " +
           std::to_string(kMinRsaBits) + " are needed";
  }
  return "";
}

// A server name for SNI: a host name, or "*." and a host name of at least two labels.
std::string checkSni(std::string& sni) {
  sni = asciiLower(sni);
  std::string_view host = sni;
  if (host.starts_with("*.")) host.remove_prefix(2);
  if (host.find('*') != std::string_view::npos) {
    return "a wildcard must be the whole leftmost label, and the only one (\"*.example.org\")";
  }
  if (host.size() != sni.size() && host.find('.') == std::string_view::npos) {
    return "a wildcard needs at least two labels after '*.' (\"*.example.org\")";
  }
  if (!isValidHostName(host, /*allow_underscore=*/false) || isIpv6Literal(host)) {
    return "must be a DNS name (an IP address is not sent as SNI)";
  }
  // The last label of a valid host name may be all digits only for an IPv4 literal.
  const std::size_t last = host.rfind('.');
  const std::string_view tld = last == std::string_view::npos ? host : host.substr(last + 1);
  if (tld.find_first_not_of("0123456789") == std::string_view::npos) {
    return "must be a DNS name (an IP address is not sent as SNI)";
  }
  return "";
}

std::optional<ClientVerify> parseClientVerify(std::string_view text) {
  if (text == "off") return ClientVerify::kOff;
  if (text == "optional") return ClientVerify::kOptional;
  if (text == "required") return ClientVerify::kRequired;
  return std::nullopt;
}

// Reads a PEM text field of at most `limit` bytes; "" and false when absent or invalid.
bool readPem(JsonReader& r, std::string_view field, std::size_t limit, std::string* out) {
  if (!r.readString(field, out)) return false;
  if (out->size() > limit) {
    r.addError(std::string(field), "must be at most " + std::to_string(limit / 1024) + " KiB");
    return false;
  }
  return true;
}

}  // namespace

std::vector<X509Ptr> readCertificates(std::string_view pem) {
  std::vector<X509Ptr> out;
  std::size_t expected = 0;
  for (std::size_t at = pem.find(kBeginCertificate); at != std::string_view::npos;
       at = pem.find(kBeginCertificate, at + 1)) {
    ++expected;
  }
  Bio bio = memoryBio(pem);
  while (bio && out.size() < expected) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, noPassphrase, nullptr));
    if (!cert) break;
    out.push_back(std::move(cert));
  }
  ERR_clear_error();
  if (out.size() != expected) out.clear();
  return out;
}

std::string_view toString(ClientVerify verify) {
  switch (verify) {
    case ClientVerify::kOff:
      return "off";
    case ClientVerify::kOptional:
      return "optional";
    case ClientVerify::kRequired:
      return "required";
  }
  return "off";
}

bool sniMatches(std::string_view sni, std::string_view host) {
  if (!sni.starts_with("*.")) return sni == host;
  const std::size_t dot = host.find('.');
  return dot != 0 && dot != std::string_view::npos && host.substr(dot) == sni.substr(1);
}

Status inspectCertificate(std::string_view cert_pem, Certificate& out) {
  std::vector<X509Ptr> chain = readCertificates(cert_pem);
  if (chain.empty()) {
    return Error::invalidField(
        "cert",
        "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----), the leaf first");
  }
  X509* leaf = chain.front().get();
  out.subject = nameText(X509_get_subject_name(leaf));
  out.issuer = nameText(X509_get_issuer_name(leaf));
  const std::optional<int64_t> not_before = unixTime(X509_get0_notBefore(leaf));
  const std::optional<int64_t> not_after = unixTime(X509_get0_notAfter(leaf));
  if (!not_before || !not_after) {
    return Error::invalidField("cert", "the leaf certificate's validity dates do not parse");
  }
  out.not_before = *not_before;
  out.not_after = *not_after;
  EVP_PKEY* public_key = X509_get0_pubkey(leaf);
  if (public_key == nullptr) {
    return Error::invalidField("cert", "the leaf certificate's public key is not supported");
  }
  out.key_type = keyType(public_key);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (X509_digest(leaf, EVP_sha256(), digest, &size) != 1) {
    return Error::invalidField("cert", "the leaf certificate cannot be hashed");
  }
  out.fingerprint_sha256 = hexLower(std::string_view(reinterpret_cast<const char*>(digest), size));
  return Ok{};
}

std::string checkCertificatesPem(std::string_view pem) {
  if (readCertificates(pem).empty()) {
    return "must be one or more PEM certificates (-----BEGIN CERTIFICATE-----)";
  }
  return "";
}

std::string checkKeyMatches(std::string_view cert_pem, std::string_view key_pem) {
  KeyPtr key = readKey(key_pem);
  if (!key) {
    return "must be a PEM private key (-----BEGIN PRIVATE KEY-----) without a passphrase";
  }
  std::string weak = checkKeyStrength(key.get());
  if (!weak.empty()) return weak;
  std::vector<X509Ptr> chain = readCertificates(cert_pem);
  if (chain.empty()) return "";  // the cert field's own error says why
  if (EVP_PKEY_eq(X509_get0_pubkey(chain.front().get()), key.get()) != 1) {
    ERR_clear_error();
    return "is not the private key of the leaf certificate in cert";
  }
  return "";
}

std::string checkSealedForm(std::string_view text) {
  constexpr std::string_view kPrefix = "v1:";
  constexpr std::size_t kIdDigits = 16;
  constexpr std::size_t kMinBoxBytes = 12 + 16;  // AES-GCM nonce and tag
  const std::string_view expected =
      "must be a sealed key as exported by GET /config (v1:<keyring id>:<base64>)";
  if (!text.starts_with(kPrefix) || text.size() < kPrefix.size() + kIdDigits + 1 ||
      text[kPrefix.size() + kIdDigits] != ':') {
    return std::string(expected);
  }
  const std::string_view id = text.substr(kPrefix.size(), kIdDigits);
  if (id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return std::string(expected);
  }
  const std::optional<std::string> box = base64Decode(text.substr(kPrefix.size() + kIdDigits + 1));
  if (!box || box->size() < kMinBoxBytes) return std::string(expected);
  return "";
}

json toJson(const Certificate& c, bool with_sealed_key) {
  json out = {{"id", c.id.empty() ? json(nullptr) : json(c.id)},
              {"name", c.name},
              {"cert", c.cert},
              {"snis", c.snis},
              {"default", c.is_default},
              {"client_verify", toString(c.client_verify)},
              {"client_ca", c.client_ca ? json(*c.client_ca) : json(nullptr)},
              {"tags", c.tags},
              {"subject", c.subject},
              {"issuer", c.issuer},
              {"not_before", c.not_before},
              {"not_after", c.not_after},
              {"key_type", c.key_type},
              {"fingerprint_sha256", c.fingerprint_sha256},
              {"created_at", c.created_at},
              {"updated_at", c.updated_at}};
  if (with_sealed_key && !c.key_encrypted.empty()) out["key_encrypted"] = c.key_encrypted;
  return out;
}

Result<Certificate> parseCertificate(const json& body, bool key_required) {
  FieldErrors errors;
  Certificate c;
  JsonReader r(body, "", &errors);
  if (r.isObject()) {
    readId(r, &c.id);
    if (r.get("name") == nullptr) {
      r.addError("name", "is required");
    } else if (r.readString("name", &c.name)) {
      std::string message = checkName(c.name);
      if (!message.empty()) r.addError("name", std::move(message));
    }
    bool cert_ok = false;
    if (r.get("cert") == nullptr) {
      r.addError("cert", "is required");
    } else if (readPem(r, "cert", kMaxCertificatePemBytes, &c.cert)) {
      Status inspected = inspectCertificate(c.cert, c);
      cert_ok = inspected.ok();
      if (!cert_ok) errors.push_back(inspected.error().fields.front());
    }
    const bool has_key = r.get("key") != nullptr;
    const bool has_sealed_key = r.get("key_encrypted") != nullptr;
    if (has_key && has_sealed_key) {
      r.addError("key_encrypted", "give either key or key_encrypted, not both");
    } else if (has_sealed_key) {
      if (r.readString("key_encrypted", &c.key_encrypted)) {
        std::string message = c.key_encrypted.size() > 2 * kMaxKeyPemBytes
                                  ? "is too long to be a sealed key"
                                  : checkSealedForm(c.key_encrypted);
        if (!message.empty()) {
          c.key_encrypted.clear();
          r.addError("key_encrypted", std::move(message));
        }
      }
    } else if (!has_key) {
      if (key_required) r.addError("key", "is required");
    } else if (readPem(r, "key", kMaxKeyPemBytes, &c.key_pem)) {
      std::string message = checkKeyMatches(cert_ok ? std::string_view(c.cert) : "", c.key_pem);
      if (!message.empty()) r.addError("key", std::move(message));
    }
    r.readStringArray("snis", &c.snis, checkSni, "is listed twice");
    if (c.snis.size() > kMaxSnis) {
      r.addError("snis", "must list at most " + std::to_string(kMaxSnis) + " names");
    }
    r.readBool("default", &c.is_default);
    std::string verify;
    if (r.readString("client_verify", &verify)) {
      std::optional<ClientVerify> parsed = parseClientVerify(verify);
      if (parsed) {
        c.client_verify = *parsed;
      } else {
        r.addError("client_verify", "must be one of off, optional, required");
      }
    }
    std::string ca;
    if (readPem(r, "client_ca", kMaxClientCaPemBytes, &ca)) {
      if (std::string message = checkCertificatesPem(ca); !message.empty()) {
        r.addError("client_ca", std::move(message));
      } else {
        c.client_ca = std::move(ca);
      }
    } else if (c.client_verify != ClientVerify::kOff && r.get("client_ca") == nullptr) {
      r.addError("client_ca",
                 "is required when client_verify is " + std::string(toString(c.client_verify)));
    }
    const bool snis_refused = std::any_of(errors.begin(), errors.end(), [](const FieldError& e) {
      return e.field == "snis" || e.field.starts_with("snis[");
    });
    if (!c.is_default && c.snis.empty() && !snis_refused) {
      r.addError("snis", "must name at least one server name unless default is true");
    }
    readTags(r, &c.tags);
    readTimestamps(r, &c.created_at, &c.updated_at);
    // Read-only fields: accepted (a GET's answer may be sent back) and recomputed.
    for (const char* derived :
         {"subject", "issuer", "not_before", "not_after", "key_type", "fingerprint_sha256"}) {
      r.get(derived);
    }
    r.finish();
  }
  if (!errors.empty()) return invalidEntity("certificate", std::move(errors));
  return c;
}

}  // namespace turnpike::model
