#pragma once

#include <string>
#include <string_view>

namespace turnpike::test_support {

// sha256Hex(text): the SHA-256 of text as 64 lowercase hex digits, as the admin API and the
// database show key and body digests.
std::string sha256Hex(std::string_view text);

}  // namespace turnpike::test_support
