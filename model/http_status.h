// The reason phrases of the HTTP status codes Turnpike itself answers with (RFC 9110 §15), shared
// by the proxy's own answers and the admin API's problem+json titles.
//
//   reasonPhrase(429) -> "Too Many Requests"; reasonPhrase(599) -> "Server Error"
#pragma once

#include <string_view>

namespace turnpike::model {

// The phrase for `status`; for a code not in the table, "Client Error" (4xx), "Server Error"
// (5xx) or "Error".
std::string_view reasonPhrase(int status);

}  // namespace turnpike::model
