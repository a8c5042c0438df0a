// Bytes as text: base64 (RFC 4648 section 4, the standard alphabet with '=' padding, through
// OpenSSL's EVP_EncodeBlock / EVP_DecodeBlock) and lower-case hex.
//
//   std::string text = base64Encode(bytes);              // "AAEC/w=="
//   std::string digits = hexLower(bytes);                // "000102ff"
//   std::optional<std::string> bytes = base64Decode(text);
//   if (!bytes) return Error::invalidField("descriptor_set", "must be base64");
//
// Decoding is strict: only the canonical padded form is accepted (no whitespace, no missing or
// extra padding, no characters outside the alphabet), so that one value has one encoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace turnpike::model {

std::string base64Encode(std::string_view bytes);

// The decoded bytes, or nullopt when `text` is not canonical padded base64.
std::optional<std::string> base64Decode(std::string_view text);

// Two lower-case hex digits per byte.
std::string hexLower(std::string_view bytes);

}  // namespace turnpike::model
