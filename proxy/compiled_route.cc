#include "proxy/compiled_route.h"

#include <algorithm>

namespace turnpike::proxy {

uint32_t methodBit(std::string_view method) {
  switch (method.size()) {
    case 3:
      if (method == "GET") return 1u << 0;
      if (method == "PUT") return 1u << 3;
      return 0;
    case 4:
      if (method == "HEAD") return 1u << 1;
      if (method == "POST") return 1u << 2;
      return 0;
    case 5:
      if (method == "PATCH") return 1u << 5;
      if (method == "TRACE") return 1u << 7;
      return 0;
    case 6:
      return method == "DELETE" ? 1u << 4 : 0;
    case 7:
      if (method == "OPTIONS") return 1u << 6;
      if (method == "CONNECT") return 1u << 8;
      return 0;
    default:
      return 0;
  }
}

bool CompiledRoute::allowsMethod(std::string_view method) const {
  if (!hasMethods()) return true;
  if (uint32_t bit = methodBit(method); bit != 0) return (method_mask & bit) != 0;
  return std::find(other_methods.begin(), other_methods.end(), method) != other_methods.end();
}

bool CompiledRoute::headersMatch(const HeaderView& request_headers) const {
  for (const HeaderCondition& condition : headers) {
    if (!request_headers.hasAnyOf(condition.name, condition.values)) return false;
  }
  return true;
}

}  // namespace turnpike::proxy
