#include "proxy/path_pattern.h"

#include <re2/re2.h>

#include <algorithm>

namespace turnpike::proxy {

namespace {

bool validParamName(std::string_view name) {
  if (name.empty()) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

bool forbiddenPathChar(char c) {
  auto u = static_cast<unsigned char>(c);
  return u <= 0x20 || u == 0x7f || c == '?' || c == '#';
}

}  // namespace

std::string_view toString(PathMatchKind kind) {
  switch (kind) {
    case PathMatchKind::kExact:
      return "exact";
    case PathMatchKind::kTemplate:
      return "template";
    case PathMatchKind::kPrefix:
      return "prefix";
    case PathMatchKind::kRegex:
      return "regex";
    case PathMatchKind::kAny:
      return "any";
  }
  return "?";
}

PathPattern::PathPattern(PathPattern&&) noexcept = default;
PathPattern& PathPattern::operator=(PathPattern&&) noexcept = default;
PathPattern::~PathPattern() = default;

model::Result<PathPattern> PathPattern::compile(const std::string& source) {
  PathPattern pattern;
  pattern.source_ = source;
  std::string_view text = source;

  if (text.starts_with("~")) {
    if (!text.starts_with("~/"))
      return model::Error::invalid("a regex path must start with \"~/\"");
    RE2::Options options;
    options.set_log_errors(false);
    re2::StringPiece expression(text.data() + 1, text.size() - 1);
    auto regex = std::make_unique<const RE2>(expression, options);
    if (!regex->ok()) return model::Error::invalid("invalid regex: " + regex->error());
    const std::map<int, std::string>& names = regex->CapturingGroupNames();
    if (!names.empty()) {
      pattern.group_names_.resize(static_cast<std::size_t>(regex->NumberOfCapturingGroups()) + 1);
      for (const auto& [index, name] : names) {
        pattern.group_names_[static_cast<std::size_t>(index)] = name;
      }
    }
    pattern.kind_ = Kind::kRegex;
    pattern.regex_ = std::move(regex);
    return pattern;
  }

  if (!text.starts_with("/")) return model::Error::invalid("a path must start with '/' or \"~/\"");
  if (std::any_of(text.begin(), text.end(), forbiddenPathChar)) {
    return model::Error::invalid("a path must not hold spaces, control characters, '?' or '#'");
  }
  if (text.find_first_of("{}") == std::string_view::npos) {
    pattern.kind_ = Kind::kLiteral;  // the common case: no segments to keep
    return pattern;
  }
  bool bad_brace = false;
  bool duplicate = false;
  forEachSegment(text, [&](std::string_view segment) {
    PathSegment parsed{segment, false};
    if (segment.starts_with("{") && segment.ends_with("}") && segment.size() >= 2) {
      parsed.text = segment.substr(1, segment.size() - 2);
      parsed.is_param = true;
      if (!validParamName(parsed.text)) bad_brace = true;
      for (const PathSegment& seen : pattern.segments_) {
        if (seen.is_param && seen.text == parsed.text) duplicate = true;
      }
    } else if (segment.find_first_of("{}") != std::string_view::npos) {
      bad_brace = true;
    }
    pattern.segments_.push_back(parsed);
  });
  if (bad_brace) {
    return model::Error::invalid(
        "a {param} must be a whole segment named with letters, digits, '_' or '-'");
  }
  if (duplicate) return model::Error::invalid("duplicate {param} name");
  bool templated = std::any_of(pattern.segments_.begin(), pattern.segments_.end(),
                               [](const PathSegment& s) { return s.is_param; });
  if (!templated) return model::Error::invalid("unbalanced '{' or '}'");  // unreachable
  pattern.kind_ = Kind::kTemplate;
  pattern.segments_.shrink_to_fit();
  return pattern;
}

std::optional<std::size_t> PathPattern::matchRegex(std::string_view path) const {
  if (!regex_) return std::nullopt;
  re2::StringPiece text(path.data(), path.size());
  re2::StringPiece whole;
  if (!regex_->Match(text, 0, text.size(), RE2::ANCHOR_START, &whole, 1)) return std::nullopt;
  return whole.size();
}

void PathPattern::appendParams(std::string_view path, std::vector<PathParam>& out) const {
  if (kind_ == Kind::kTemplate) {
    std::size_t index = 0;
    forEachSegment(path, [&](std::string_view segment) {
      if (index < segments_.size() && segments_[index].is_param) {
        out.push_back({segments_[index].text, segment});
      }
      ++index;
    });
    return;
  }
  if (kind_ != Kind::kRegex || group_names_.empty()) return;
  std::vector<re2::StringPiece> groups(group_names_.size());
  re2::StringPiece text(path.data(), path.size());
  if (!regex_->Match(text, 0, text.size(), RE2::ANCHOR_START, groups.data(),
                     static_cast<int>(groups.size()))) {
    return;
  }
  for (std::size_t i = 1; i < groups.size(); ++i) {
    if (group_names_[i].empty() || groups[i].data() == nullptr) continue;
    out.push_back({group_names_[i], std::string_view(groups[i].data(), groups[i].size())});
  }
}

std::optional<PathPattern::Hit> PathPattern::match(std::string_view path) const {
  switch (kind_) {
    case Kind::kLiteral:
      if (path == source_) return Hit{PathMatchKind::kExact, path.size()};
      if (isCatchAll()) return Hit{PathMatchKind::kAny, 0};
      if (!path.starts_with(source_)) return std::nullopt;
      if (source_.ends_with('/') || path[source_.size()] == '/') {
        return Hit{PathMatchKind::kPrefix, source_.size()};
      }
      return std::nullopt;
    case Kind::kTemplate: {
      if (!path.starts_with('/')) return std::nullopt;
      std::size_t index = 0;
      bool ok = true;
      forEachSegment(path, [&](std::string_view segment) {
        if (!ok) return;
        if (index >= segments_.size()) {
          ok = false;
          return;
        }
        const PathSegment& want = segments_[index++];
        ok = want.is_param ? !segment.empty() : segment == want.text;
      });
      if (!ok || index != segments_.size()) return std::nullopt;
      return Hit{PathMatchKind::kTemplate, path.size()};
    }
    case Kind::kRegex: {
      std::optional<std::size_t> length = matchRegex(path);
      if (!length) return std::nullopt;
      return Hit{PathMatchKind::kRegex, *length};
    }
  }
  return std::nullopt;
}

}  // namespace turnpike::proxy
