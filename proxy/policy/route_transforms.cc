#include "proxy/policy/route_transforms.h"

#include <re2/re2.h>

#include <algorithm>

#include "model/json_depth.h"
#include "proxy/policy/key_auth.h"

namespace turnpike::proxy::policy {
namespace {

bool equalsLower(std::string_view text, std::string_view lower) {
  return text.size() == lower.size() &&
         std::equal(text.begin(), text.end(), lower.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
         });
}

bool isUnreserved(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

}  // namespace

CompiledRequestTransform::CompiledRequestTransform() = default;
CompiledRequestTransform::~CompiledRequestTransform() = default;

HeaderEdits::Action HeaderEdits::decide(std::string_view name, std::string_view* new_name) const {
  for (const std::string& dropped : drop) {
    if (equalsLower(name, dropped)) return Action::kDrop;
  }
  for (const auto& [from, to] : rename) {
    if (equalsLower(name, from)) {
      *new_name = to;
      return Action::kRename;
    }
  }
  return Action::kKeep;
}

HeaderEdits compileHeaderEdits(const std::map<std::string, std::string>& set,
                               const std::vector<std::string>& remove,
                               const std::map<std::string, std::string>& rename) {
  HeaderEdits edits;
  edits.drop = remove;
  for (const auto& [name, value] : set) {
    if (std::find(edits.drop.begin(), edits.drop.end(), name) == edits.drop.end()) {
      edits.drop.push_back(name);
    }
    edits.set.emplace_back(name, value);
  }
  for (const auto& [from, to] : rename) {
    // Renamed onto a name that set_headers writes: set replaces every value, this one too.
    if (set.count(to) != 0) {
      if (std::find(edits.drop.begin(), edits.drop.end(), from) == edits.drop.end()) {
        edits.drop.push_back(from);
      }
      continue;
    }
    edits.rename.emplace_back(from, to);
  }
  return edits;
}

model::Result<std::shared_ptr<const CompiledRequestTransform>> CompiledRequestTransform::compile(
    const model::RequestTransform& transform) {
  auto out = std::make_shared<CompiledRequestTransform>();
  out->headers_ =
      compileHeaderEdits(transform.set_headers, transform.remove_headers, transform.rename_headers);
  out->remove_query_ = transform.remove_query;
  for (const auto& [name, value] : transform.set_query) {
    std::string encoded_name;
    appendPercentEncoded(encoded_name, name);
    std::string encoded_value;
    appendPercentEncoded(encoded_value, value);
    // The raw name as it would arrive encoded: replaces a parameter sent under that name.
    out->set_query_.emplace_back(std::move(encoded_name), std::move(encoded_value));
  }
  if (transform.rewrite_path) {
    RE2::Options options;
    options.set_log_errors(false);
    out->path_pattern_ = std::make_unique<RE2>(transform.rewrite_path->match, options);
    if (!out->path_pattern_->ok()) {
      return model::Error::invalid("rewrite_path.match: " + out->path_pattern_->error());
    }
    out->path_replace_ = transform.rewrite_path->replace;
  }
  return std::shared_ptr<const CompiledRequestTransform>(std::move(out));
}

std::string CompiledRequestTransform::rewriteQuery(std::string_view query) const {
  std::string out;
  out.reserve(query.size() + 32);
  forEachQueryParameter(query, [&](std::string_view parameter, std::string_view name) {
    if (parameter.empty()) return false;
    auto named = [name](const auto& entry) { return entry == name; };
    if (std::any_of(remove_query_.begin(), remove_query_.end(), named)) return false;
    if (std::any_of(set_query_.begin(), set_query_.end(),
                    [name](const auto& set) { return set.first == name; })) {
      return false;
    }
    if (!out.empty()) out.push_back('&');
    out.append(parameter);
    return false;
  });
  for (const auto& [name, value] : set_query_) {
    if (!out.empty()) out.push_back('&');
    out.append(name).append("=").append(value);
  }
  return out;
}

bool CompiledRequestTransform::rewritePath(std::string& target) const {
  if (!path_pattern_) return false;
  const std::size_t query = target.find('?');
  std::string path = target.substr(0, query);
  if (!RE2::Replace(&path, *path_pattern_, path_replace_)) return false;
  if (path.empty() || path.front() != '/') path.insert(path.begin(), '/');
  if (query != std::string::npos) path.append(target, query, std::string::npos);
  target = std::move(path);
  return true;
}

std::shared_ptr<const CompiledResponseTransform> CompiledResponseTransform::compile(
    const model::ResponseTransform& transform) {
  auto out = std::make_shared<CompiledResponseTransform>();
  out->headers_ = compileHeaderEdits(transform.set_headers, transform.remove_headers);
  if (transform.json) out->json_ = CompiledJsonShape::compile(*transform.json);
  out->max_body_bytes_ = static_cast<uint64_t>(transform.max_body_bytes);
  return out;
}

bool reshapeJsonBody(const CompiledJsonShape& shape, std::string& body) {
  // dump() recurses over the document: bound the depth before parsing.
  if (model::jsonNestsDeeperThan(body, model::kMaxJsonDepth)) return false;
  nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return false;
  shape.apply(doc);
  body = doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return true;
}

void appendPercentEncoded(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  for (char c : text) {
    if (isUnreserved(c)) {
      out.push_back(c);
    } else {
      const auto byte = static_cast<unsigned char>(c);
      out.push_back('%');
      out.push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    }
  }
}

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string percentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      const int high = hexValue(text[i + 1]);
      const int low = hexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out.push_back(static_cast<char>(high * 16 + low));
        i += 2;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace turnpike::proxy::policy
