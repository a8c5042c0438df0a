#include "model/encoding.h"

#include <openssl/evp.h>

namespace turnpike::model {

std::string base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3), '\0');
  // EVP_EncodeBlock writes a terminating NUL after the 4n characters: one more byte of room.
  out.push_back('\0');
  const int written = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(bytes.data()),
                                      static_cast<int>(bytes.size()));
  out.resize(static_cast<std::size_t>(written));
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  std::string out(text.size() / 4 * 3, '\0');
  if (text.empty()) return out;
  // EVP_DecodeBlock decodes whole quadruples and counts padding as zero bytes: drop them.
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (written < 0 || static_cast<std::size_t>(written) != out.size()) return std::nullopt;
  out.resize(out.size() - padding);
  // Canonical form, which also refuses the whitespace EVP_DecodeBlock skips: the text must be
  // exactly what encoding the bytes gives (the bits padding leaves over are zero: "QR==" is not
  // "QQ==").
  if (base64Encode(out) != text) return std::nullopt;
  return out;
}

std::string hexLower(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * bytes.size(), '\0');  // sized once: no check per character
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    const auto byte = static_cast<unsigned char>(bytes[i]);
    out[2 * i] = kHex[byte >> 4];
    out[2 * i + 1] = kHex[byte & 0x0f];
  }
  return out;
}

}  // namespace turnpike::model
