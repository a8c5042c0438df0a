#include "proxy/request_view.h"

#include <algorithm>

namespace turnpike::proxy {

namespace {

char lowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

}  // namespace

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

bool HeaderView::visitSpan(const void* obj, std::size_t size, std::string_view name,
                           Visitor visitor) {
  std::span<const HeaderField> fields(static_cast<const HeaderField*>(obj), size);
  for (const HeaderField& field : fields) {
    if (equalsIgnoreCase(field.name, name) && visitor(field.value)) return true;
  }
  return false;
}

bool HeaderView::hasAnyOf(std::string_view name, std::span<const std::string> accepted) const {
  return visit(name, [&](std::string_view value) {
    return accepted.empty() || std::find(accepted.begin(), accepted.end(), value) != accepted.end();
  });
}

TargetParts splitTarget(std::string_view target) {
  std::size_t q = target.find('?');
  if (q == std::string_view::npos) return {target, {}};
  return {target.substr(0, q), target.substr(q + 1)};
}

}  // namespace turnpike::proxy
