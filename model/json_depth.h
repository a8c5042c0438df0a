// JSON nesting depth, checked before parsing: nlohmann's parser, dump() and merge_patch()
// recurse, and a 1 MiB body of '[' would otherwise exhaust a thread's stack. The admin API
// refuses deeper bodies with a 400 before it parses them.
//
//   if (jsonNestsDeeperThan(body, kMaxJsonDepth)) return badRequest(...);
#pragma once

#include <string_view>

namespace turnpike::model {

inline constexpr int kMaxJsonDepth = 64;

// True when arrays and objects in `text` nest deeper than `max_depth` (brackets inside strings
// do not count). One pass, no allocation; `text` need not be valid JSON.
bool jsonNestsDeeperThan(std::string_view text, int max_depth);

}  // namespace turnpike::model
