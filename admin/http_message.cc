#include "admin/http_message.h"

#include <strings.h>

namespace turnpike::admin {

const std::string* HttpResponse::header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (key.size() == name.size() && ::strncasecmp(key.data(), name.data(), key.size()) == 0) {
      return &value;
    }
  }
  return nullptr;
}

}  // namespace turnpike::admin
