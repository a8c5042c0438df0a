#include "proxy/policy/json_shape.h"

#include <utility>

namespace turnpike::proxy::policy {

namespace {

using Json = nlohmann::json;

// Calls `fn(item)` on `value` itself when it is not an array; otherwise on every element of it
// and of the arrays nested in it, at any depth, with a heap stack instead of recursion (the
// nesting comes from the upstream). An element for which `fn` returns false is removed from its
// array (the return value is ignored for `value` itself). Order of the calls: unspecified.
template <class Fn>
void forEachInArrays(Json& value, Fn&& fn) {
  if (!value.is_array()) {
    fn(value);
    return;
  }
  std::vector<Json*> pending = {&value};
  while (!pending.empty()) {
    Json::array_t& items = pending.back()->get_ref<Json::array_t&>();
    pending.pop_back();
    std::size_t kept = 0;
    for (std::size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_array() && !fn(items[i])) continue;
      if (kept != i) items[kept] = std::move(items[i]);
      ++kept;
    }
    items.erase(items.begin() + static_cast<std::ptrdiff_t>(kept), items.end());
    // `items` is not changed again, so these pointers stay valid while they wait.
    for (Json& item : items) {
      if (item.is_array()) pending.push_back(&item);
    }
  }
}

template <class Fn>
void forEachSegment(std::string_view dot_path, Fn&& fn) {
  std::size_t start = 0;
  while (true) {
    std::size_t end = dot_path.find('.', start);
    fn(dot_path.substr(start,
                       end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return;
    start = end + 1;
  }
}

}  // namespace

void CompiledJsonShape::PathTrie::add(std::string_view dot_path) {
  if (nodes.empty()) nodes.emplace_back();
  std::size_t at = 0;
  bool covered = false;  // a shorter path already ends on the way
  forEachSegment(dot_path, [&](std::string_view segment) {
    if (covered) return;
    auto child = nodes[at].children.find(segment);
    if (child != nodes[at].children.end()) {
      at = child->second;
      covered = nodes[at].terminal;
      return;
    }
    std::size_t next = nodes.size();
    nodes[at].children.emplace(std::string(segment), next);
    nodes.emplace_back();  // after the use of nodes[at]: this may reallocate
    at = next;
  });
  if (covered) return;
  // When longer paths through this node were added before, this one wins; their nodes stay in
  // `nodes`, unreachable.
  nodes[at].terminal = true;
  nodes[at].children.clear();
}

struct CompiledJsonShape::Steps {
  using Trie = std::vector<PathTrie::Node>;

  // allow: `value` is reached by a path that goes on below node `at` (not terminal).
  static void keepOnly(const Trie& trie, std::size_t at, Json& value) {
    forEachInArrays(value, [&](Json& item) {
      if (!item.is_object()) return false;  // a scalar where the path goes deeper
      keepOnlyMembers(trie, at, item.get_ref<Json::object_t&>());
      return true;
    });
  }

  static void keepOnlyMembers(const Trie& trie, std::size_t at, Json::object_t& members) {
    const auto& children = trie[at].children;
    for (auto member = members.begin(); member != members.end();) {
      auto child = children.find(member->first);
      if (child == children.end()) {
        member = members.erase(member);
        continue;
      }
      if (!trie[child->second].terminal) {
        if (!member->second.is_structured()) {
          member = members.erase(member);
          continue;
        }
        keepOnly(trie, child->second, member->second);
      }
      ++member;
    }
  }

  // deny: removes, below `value`, the members the paths under node `at` name.
  static void removeNamed(const Trie& trie, std::size_t at, Json& value) {
    forEachInArrays(value, [&](Json& item) {
      if (!item.is_object()) return true;
      Json::object_t& members = item.get_ref<Json::object_t&>();
      for (const auto& [name, index] : trie[at].children) {
        auto member = members.find(name);
        if (member == members.end()) continue;
        if (trie[index].terminal) {
          members.erase(member);
        } else {
          removeNamed(trie, index, member->second);
        }
      }
      return true;
    });
  }

  // rename: `value` holds (or its array elements hold) the member named segments[depth].
  static void rename(const Rename& entry, std::size_t depth, Json& value) {
    forEachInArrays(value, [&](Json& item) {
      if (!item.is_object()) return true;
      Json::object_t& members = item.get_ref<Json::object_t&>();
      auto member = members.find(entry.segments[depth]);
      if (member == members.end()) return true;
      if (depth + 1 < entry.segments.size()) {
        rename(entry, depth + 1, member->second);
      } else if (member->first != entry.new_name) {
        Json moved = std::move(member->second);
        members.erase(member);
        members.insert_or_assign(entry.new_name, std::move(moved));
      }
      return true;
    });
  }
};

CompiledJsonShape CompiledJsonShape::compile(const model::JsonShape& shape) {
  CompiledJsonShape compiled;
  for (const std::string& path : shape.allow) compiled.allow_.add(path);
  for (const std::string& path : shape.deny) compiled.deny_.add(path);
  compiled.renames_.reserve(shape.rename.size());
  for (const auto& [path, new_name] : shape.rename) {
    Rename entry;
    forEachSegment(path, [&](std::string_view segment) { entry.segments.emplace_back(segment); });
    entry.new_name = new_name;
    compiled.renames_.push_back(std::move(entry));
  }
  compiled.wrap_ = shape.wrap;
  return compiled;
}

bool CompiledJsonShape::empty() const {
  return allow_.empty() && deny_.empty() && renames_.empty() && wrap_.empty();
}

void CompiledJsonShape::apply(Json& body) const {
  if (!allow_.empty() && body.is_structured()) {
    Steps::keepOnly(allow_.nodes, 0, body);
  }
  if (!deny_.empty()) Steps::removeNamed(deny_.nodes, 0, body);
  // Longest paths of a branch first ("a.b" sorts after "a"): every entry names the members as
  // the upstream sent them, whatever its parent is renamed to.
  for (auto entry = renames_.rbegin(); entry != renames_.rend(); ++entry) {
    Steps::rename(*entry, 0, body);
  }
  if (!wrap_.empty()) {
    Json wrapped = Json::object();
    wrapped.get_ref<Json::object_t&>().emplace(wrap_, std::move(body));
    body = std::move(wrapped);
  }
}

namespace {

char lowerAscii(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lowerAscii(a[i]) != lowerAscii(b[i])) return false;
  }
  return true;
}

// RFC 9110 tchar.
bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isToken(std::string_view text) {
  if (text.empty()) return false;
  for (char c : text) {
    if (!isTokenChar(c)) return false;
  }
  return true;
}

std::string_view trimWhitespace(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

}  // namespace

bool isJsonMediaType(std::string_view content_type) {
  std::string_view media_type = trimWhitespace(content_type.substr(0, content_type.find(';')));
  std::size_t slash = media_type.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view type = media_type.substr(0, slash);
  std::string_view subtype = media_type.substr(slash + 1);
  if (!isToken(type) || !isToken(subtype)) return false;
  if (equalsIgnoringCase(subtype, "json")) {
    return equalsIgnoringCase(type, "application") || equalsIgnoringCase(type, "text");
  }
  constexpr std::string_view kSuffix = "+json";
  return subtype.size() > kSuffix.size() &&
         equalsIgnoringCase(subtype.substr(subtype.size() - kSuffix.size()), kSuffix);
}

Json mergeAggregate(std::span<const AggregatePart> parts) {
  Json merged = Json::object();
  Json::object_t& top = merged.get_ref<Json::object_t&>();
  for (const AggregatePart& part : parts) {
    if (part.body == nullptr) continue;
    if (!part.group.empty()) {
      top.insert_or_assign(std::string(part.group), std::move(*part.body));
      continue;
    }
    if (!part.body->is_object()) continue;  // a broken precondition: contributes nothing
    for (auto& [name, value] : part.body->get_ref<Json::object_t&>()) {
      top.insert_or_assign(name, std::move(value));
    }
  }
  return merged;
}

}  // namespace turnpike::proxy::policy
