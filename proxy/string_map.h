// StringMap<V>: a hash map keyed by std::string that std::string_view lookups find without
// building a std::string (no allocation on the request path).
//
//   StringMap<int> counts;
//   counts.try_emplace(std::string(name));
//   auto it = counts.find(std::string_view(header_value));
#pragma once

#include <boost/container_hash/hash.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <string>
#include <string_view>

namespace turnpike::proxy {

struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const noexcept {
    return boost::hash_range(text.begin(), text.end());
  }
};

struct TransparentStringEqual {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const noexcept { return a == b; }
};

template <class V>
using StringMap =
    boost::unordered_flat_map<std::string, V, TransparentStringHash, TransparentStringEqual>;

}  // namespace turnpike::proxy
