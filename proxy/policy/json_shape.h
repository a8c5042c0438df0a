// JSON body shaping for response_transform.json and aggregate backends (model::JsonShape), the
// test for "is this body JSON" that decides whether a body is parsed at all, and the merge of an
// aggregate route's backend answers into one document. Pure functions of parsed documents, so
// that they are tested without a socket.
//
//   // when the snapshot is built, once per shape:
//   CompiledJsonShape shape = CompiledJsonShape::compile(*route.response_transform->json);
//   // per response:
//   if (!shape.empty() && isJsonMediaType(content_type) && body.size() <= max_body_bytes &&
//       !model::jsonNestsDeeperThan(body, model::kMaxJsonDepth)) {
//     nlohmann::json doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
//     if (!doc.is_discarded()) { shape.apply(doc); body = doc.dump(); }
//   }
//   // aggregate, once every backend has answered or failed (bodies already shaped):
//   std::vector<AggregatePart> parts = ...;  // in the route's backend order
//   nlohmann::json merged = mergeAggregate(parts);
//
// THREAD: CompiledJsonShape is immutable after compile(); any number of threads may call apply()
// at once on different documents without a lock. The free functions are pure.
// OWNERSHIP: compile() copies what it needs from the model::JsonShape; the result does not refer
// to it. mergeAggregate() moves out of the bodies it is given.
// DEPTH: apply() recurses along the compiled paths only (as deep as the longest dot path), never
// along the document: arrays nested in arrays are walked with a heap stack. nlohmann's dump() and
// operator== do recurse over the document, hence the depth check before parsing.
#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "model/route_transform.h"

namespace turnpike::proxy::policy {

// A model::JsonShape compiled into path tries. apply() reshapes a document in place in four
// steps, in this order:
//
//  1. allow (when non-empty): keeps only what the dot paths name. In an object, a member a path
//     ends at is kept whole; a member a path goes through is filtered the same way one level
//     down, and dropped when it is a scalar (string, number, bool, null). An array on the way is
//     filtered element by element (arrays nested in it too); its scalar elements are dropped.
//     A root array is treated like any array; a scalar root is left untouched. When one path is
//     a prefix of another ("a" and "a.b"), the shorter wins: "a" is kept whole.
//       allow ["id", "items.name"]:
//       {"id":1,"secret":2,"items":[{"name":"a","price":3},{"name":"b"}]}
//       -> {"id":1,"items":[{"name":"a"},{"name":"b"}]}
//  2. deny: removes the members the dot paths name, walking arrays element by element; a path
//     that names nothing (missing member, scalar on the way) is ignored.
//  3. rename: the member each dot path names (arrays walked element by element) gets the new
//     name in the same object, replacing a member that already had that name. A path that
//     names nothing is ignored. Every path names members as the upstream sent them: the entries
//     run in reverse lexicographic order, so a child ("a.b") is renamed before its parent ("a"):
//     {"a": "x", "a.b": "y"} turns {"a":{"b":1}} into {"x":{"y":1}}. Renaming onto a name that
//     another entry renames away is not a chain: {"a": "b", "b": "c"} turns {"a":1} into {"b":1}.
//  4. wrap (when non-empty): the document becomes {wrap: document}.
//
// Empty objects left behind by allow or deny are kept ({"items":[{}]}), as are empty arrays.
//
// COST: deny and rename look up each path's segments, so they cost in proportion to the paths,
// times the elements of the arrays met on the way; they never visit members no path names.
// allow also visits (and drops) the other members of each object a path goes through. No
// exception other than std::bad_alloc.
class CompiledJsonShape {
 public:
  // The empty shape (does nothing).
  CompiledJsonShape() = default;

  // Cannot fail: model validation has checked the paths (non-empty, '.'-separated, non-empty
  // segments) and the rename targets (non-empty, no '.'); anything else is still taken literally.
  [[nodiscard]] static CompiledJsonShape compile(const model::JsonShape& shape);

  // Reshapes `body` in place (allow, deny, rename, wrap; see the class comment).
  void apply(nlohmann::json& body) const;

  // True when apply() would do nothing (no allow, deny, rename or wrap): callers skip parsing.
  [[nodiscard]] bool empty() const;

 private:
  // A set of dot paths as a trie in one vector; node 0 is the root. A terminal node ends a path
  // and has no children (the shorter path wins).
  struct PathTrie {
    struct Node {
      std::map<std::string, std::size_t, std::less<>> children;  // segment -> index in nodes
      bool terminal = false;
    };
    std::vector<Node> nodes;  // empty: no paths

    void add(std::string_view dot_path);
    bool empty() const { return nodes.empty(); }
  };

  struct Rename {
    std::vector<std::string> segments;  // the dot path, split
    std::string new_name;
  };

  struct Steps;  // the recursive parts of apply(), in the .cc

  PathTrie allow_;
  PathTrie deny_;
  std::vector<Rename> renames_;  // in the model map's order; apply() runs them backwards
  std::string wrap_;
};

// True when a Content-Type value names JSON: "application/json", "text/json" (not registered,
// but some servers send it), or any "<type>/<subtype>+json" (application/problem+json,
// application/vnd.api+json). Case-insensitive; whitespace around the media type and parameters
// after ';' are ignored ("Application/JSON ; charset=UTF-8"). The type and subtype must be
// RFC 9110 tokens and "+json" must follow a non-empty name. False for "", "application/jsonp",
// "application/json-seq", "application/x-json-stream", "text/html".
[[nodiscard]] bool isJsonMediaType(std::string_view content_type);

// One backend's contribution to an aggregate route's answer.
struct AggregatePart {
  std::string_view group;          // empty: shallow-merged into the top level
  nlohmann::json* body = nullptr;  // null: this backend failed and contributes nothing
};

// Merges the parts into one object, in the order given (the route's backend order, never the
// arrival order). A part with a group goes under that key, whatever its JSON value (arrays stay
// arrays). A part without one must be an object (the caller checks; any other value is skipped)
// and its members are moved into the top level. Whenever a key is set twice (two members of
// that name, two parts with the same group, or a group and a member), the later part's value
// replaces the earlier one. Moves out of the bodies; `parts` itself is not changed. No parts,
// or only null ones: {}.
[[nodiscard]] nlohmann::json mergeAggregate(std::span<const AggregatePart> parts);

}  // namespace turnpike::proxy::policy
