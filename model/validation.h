// Textual rules shared by the entity parsers: host names, ports, HTTP tokens, lengths.
// Private to model/: other folders go through the parse*() functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace turnpike::model {

// An RFC 9110 token (header names, methods): one or more of ALPHA DIGIT !#$%&'*+-.^_`|~
bool isHttpToken(std::string_view text);

std::string asciiLower(std::string_view text);
std::string asciiUpper(std::string_view text);

// A DNS host name (labels of 1..63 [A-Za-z0-9-], no leading or trailing '-', 253 chars in
// all; '_' also allowed in labels when `allow_underscore`), or a dotted-quad IPv4 literal.
// A name whose last label is all digits must be a valid IPv4 literal (999.1.1.1 is refused).
bool isValidHostName(std::string_view host, bool allow_underscore = false);

// An IPv6 address without brackets ("::1").
bool isIpv6Literal(std::string_view text);

// "1".."65535" in plain decimal digits.
std::optional<int> parsePort(std::string_view text);

// Number of UTF-8 code points (bytes that are not continuation bytes).
std::size_t utf8Length(std::string_view text);

// True when `text` holds a byte < 0x20 or 0x7f.
bool hasControlChars(std::string_view text);

}  // namespace turnpike::model
