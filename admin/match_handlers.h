// GET /routes/match: which route would serve a request, which policies apply, and why every
// other route did not match (API.md "Operations").
//
//   GET /routes/match?method=GET&host=api.example.com&path=/orders/7?x=1&header.x-version=2
//
// The logic is a plain function of a Snapshot (explainMatch); the handler parses the query and
// picks the snapshot: the one the proxy serves (ProxyHooks::snapshot), else one built from the
// stored configuration.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "admin/handler_support.h"
#include "model/result.h"
#include "proxy/snapshot.h"

namespace turnpike::admin {

// The request to explain, as given in the query string.
struct MatchQuery {
  std::string method = "GET";
  std::string host;                            // empty: no Host header
  std::string path;                            // without the query
  std::string query;                           // after '?', without it; empty when none
  std::map<std::string, std::string> headers;  // lower-case name -> value (header.<name>=value)
};

// Parses ?method (an HTTP token, default GET), ?host, ?path (required, starting with '/'; a
// "?query" part is split off) and ?header.<name>. Errors are kInvalid naming the parameter.
model::Result<MatchQuery> matchQueryOf(const HttpRequest& request);

// {"version", "request", "matched": null | {...}, "routes": [{"id", "name", "verdict",
// "detail", "lost_to"}]}, from Router::explain() on `snapshot`. Slow (linear in routes).
nlohmann::json explainMatch(const proxy::Snapshot& snapshot, const MatchQuery& query);

HttpResponse getRouteMatch(Call& call);  // GET /routes/match

}  // namespace turnpike::admin
